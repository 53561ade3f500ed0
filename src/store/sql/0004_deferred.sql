-- Schema 4: the power curtailment deferred, per site sample (mean W over the sample's span):
-- what the curtailed chargers could have taken beyond what they were given. NULL in rows
-- recorded before this column existed.

ALTER TABLE site_samples ADD COLUMN deferred_w REAL;
