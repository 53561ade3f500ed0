//! The simulated site's physics (pure, deterministic with a seed): EVs that plug in and out and
//! draw what the charger offers after a reaction delay, a building base load that surges, and
//! meters that sum it all per grid phase. The Modbus side (`sim::serve`) only reads and writes it.

use super::load::LoadProfile;
use crate::phase::{PerPhase, Wiring};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// IEC 61851-1 control pilot states as the simulator models them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PilotState {
    /// A: no vehicle.
    A,
    /// B: vehicle connected, not charging.
    B,
    /// C: charging.
    C,
    /// F: charger fault (EVSE not available).
    F,
}

/// A car as the charger sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Car {
    /// Highest current its on-board charger takes, per phase (A).
    pub max_current_a: f64,
    /// Phases its on-board charger uses (1 or 3).
    pub phases: usize,
    /// Energy it still wants (Wh); charging stops at 0.
    pub wants_wh: f64,
    /// The RFID card its driver presents.
    pub id_tag: String,
}

/// Static description of a simulated charger.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerSpec {
    pub wiring: Wiring,
    /// Index into the circuits; `None` = on the grid connection.
    pub circuit: Option<usize>,
    /// Hardware maximum (A).
    pub max_current_a: f64,
    /// Current the charger falls back to when nobody writes to it for `failsafe_timeout_s`.
    pub failsafe_current_a: f64,
    pub failsafe_timeout_s: f64,
}

/// Physical parameters shared by every simulated car and charger.
#[derive(Debug, Clone, PartialEq)]
pub struct Physics {
    pub voltage_v: f64,
    /// Delay before a car follows a higher offer (s).
    pub rise_delay_s: f64,
    /// Rate at which a car's draw rises (A/s).
    pub rise_rate_a_per_s: f64,
    /// Delay before a car follows a lower offer (s); IEC 61851 allows up to 5 s, most cars take < 1 s.
    pub fall_delay_s: f64,
}

impl Default for Physics {
    fn default() -> Self {
        Physics {
            voltage_v: 230.0,
            rise_delay_s: 1.0,
            rise_rate_a_per_s: 8.0,
            fall_delay_s: 0.4,
        }
    }
}

/// Live state of one simulated charger.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCharger {
    pub spec: ChargerSpec,
    /// Last current limit written (A).
    pub setpoint_a: f64,
    pub enabled: bool,
    pub car: Option<Car>,
    /// Draw per charger terminal (A).
    pub draw_a: [f64; 3],
    pub session_energy_wh: f64,
    pub total_energy_wh: f64,
    /// When a controller last wrote to it (s, simulation time).
    pub last_contact_s: f64,
    /// True while it answers on the bus (tests switch it off to play a dead device).
    pub online: bool,
    pub faulted: bool,
    offer_a: f64,
    offer_changed_s: f64,
}

impl SimCharger {
    pub fn new(spec: ChargerSpec) -> Self {
        SimCharger {
            setpoint_a: spec.failsafe_current_a,
            spec,
            enabled: true,
            car: None,
            draw_a: [0.0; 3],
            session_energy_wh: 0.0,
            total_energy_wh: 0.0,
            last_contact_s: f64::NEG_INFINITY,
            online: true,
            faulted: false,
            offer_a: 0.0,
            offer_changed_s: 0.0,
        }
    }

    /// In failsafe: nobody has written to it for longer than its failsafe timeout.
    pub fn in_failsafe(&self, now_s: f64) -> bool {
        now_s - self.last_contact_s > self.spec.failsafe_timeout_s
    }

    /// The current the charger offers the car now (A): setpoint, or failsafe current when the
    /// controller went quiet; 0 below the IEC minimum of 6 A.
    pub fn offered_a(&self, now_s: f64) -> f64 {
        if !self.enabled || self.faulted {
            return 0.0;
        }
        let limit = if self.in_failsafe(now_s) {
            self.spec.failsafe_current_a
        } else {
            self.setpoint_a
        };
        let limit = limit.min(self.spec.max_current_a);
        if limit < 6.0 { 0.0 } else { limit }
    }

    pub fn pilot(&self) -> PilotState {
        if self.faulted {
            PilotState::F
        } else if self.car.is_none() {
            PilotState::A
        } else if self.draw_a.iter().any(|a| *a > 0.5) {
            PilotState::C
        } else {
            PilotState::B
        }
    }

    /// Draw on the grid phases (A).
    pub fn grid_draw(&self) -> PerPhase<f64> {
        self.spec.wiring.to_grid(&self.draw_a)
    }

    pub fn power_w(&self, voltage_v: f64) -> f64 {
        self.draw_a.iter().sum::<f64>() * voltage_v
    }

    /// A controller wrote a current limit.
    pub fn write_setpoint(&mut self, amps: f64, now_s: f64) {
        self.setpoint_a = amps.max(0.0);
        self.last_contact_s = now_s;
    }

    /// A controller wrote the keep-alive register.
    pub fn keep_alive(&mut self, now_s: f64) {
        self.last_contact_s = now_s;
    }

    pub fn plug_in(&mut self, car: Car) {
        self.car = Some(car);
        self.session_energy_wh = 0.0;
    }

    pub fn unplug(&mut self) -> Option<Car> {
        self.draw_a = [0.0; 3];
        self.car.take()
    }

    fn step(&mut self, now_s: f64, dt_s: f64, physics: &Physics) {
        let offer = self.offered_a(now_s);
        if (offer - self.offer_a).abs() > 1e-9 {
            // A car still catching up with a rising offer keeps following it: only a change that
            // finds it settled (or a cut) starts a new reaction delay.
            let catching_up = offer > self.offer_a && self.draw_a[0] < self.offer_a - 0.01;
            if !catching_up {
                self.offer_changed_s = now_s;
            }
            self.offer_a = offer;
        }
        let Some(car) = &mut self.car else {
            self.draw_a = [0.0; 3];
            return;
        };
        let wants = car.wants_wh > 0.0;
        let target = if wants {
            offer.min(car.max_current_a)
        } else {
            0.0
        };
        let phases = car.phases.min(self.spec.wiring.phases()).max(1);
        let since = now_s - self.offer_changed_s;
        let current = self.draw_a[0];
        let next = if target < current {
            if since >= physics.fall_delay_s || !wants {
                target
            } else {
                current
            }
        } else if since >= physics.rise_delay_s {
            (current + physics.rise_rate_a_per_s * dt_s).min(target)
        } else {
            current
        };
        for (i, d) in self.draw_a.iter_mut().enumerate() {
            *d = if i < phases { next } else { 0.0 };
        }
        let energy = self.draw_a.iter().sum::<f64>() * physics.voltage_v * dt_s / 3600.0;
        car.wants_wh = (car.wants_wh - energy).max(0.0);
        self.session_energy_wh += energy;
        self.total_energy_wh += energy;
    }
}

/// A meter's view: the total on its circuit (or the grid connection).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeterReading {
    pub voltage_v: PerPhase<f64>,
    pub current_a: PerPhase<f64>,
    pub power_w: PerPhase<f64>,
    pub import_wh: f64,
    pub export_wh: f64,
    pub frequency_hz: f64,
}

/// How cars come and go.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Mean time between arrivals at a free charger (s).
    pub mean_idle_s: f64,
    /// First arrival at the first charger (s), so a short run shows a session.
    pub first_arrival_s: f64,
    /// Mean energy a car wants (Wh).
    pub mean_energy_wh: f64,
    /// Mean time a car stays plugged in after it is full (s).
    pub mean_linger_s: f64,
    /// The id tags drivers present.
    pub id_tags: Vec<String>,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            mean_idle_s: 60.0,
            first_arrival_s: 2.0,
            mean_energy_wh: 8_000.0,
            mean_linger_s: 30.0,
            id_tags: vec!["04A1B2C3".into(), "04D4E5F6".into(), "0411AA22".into()],
        }
    }
}

/// The whole simulated site.
#[derive(Debug, Clone)]
pub struct SimSite {
    pub now_s: f64,
    pub physics: Physics,
    pub chargers: Vec<SimCharger>,
    /// Parent of each circuit (`None` = the grid connection).
    pub circuit_parents: Vec<Option<usize>>,
    /// Non-EV load on each circuit (A per grid phase); index `circuits.len()` is the grid itself.
    pub base_load: Vec<PerPhase<f64>>,
    /// When set, the base load of that circuit (same indexing) follows the profile over time.
    pub load_profiles: Vec<Option<LoadProfile>>,
    pub traffic: Option<Traffic>,
    rng: StdRng,
    next_event_s: Vec<f64>,
    grid_import_wh: f64,
    circuit_import_wh: Vec<f64>,
}

impl SimSite {
    pub fn new(
        seed: u64,
        physics: Physics,
        chargers: Vec<ChargerSpec>,
        circuit_parents: Vec<Option<usize>>,
        traffic: Option<Traffic>,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = chargers.len();
        let next_event_s = (0..n)
            .map(|i| match &traffic {
                Some(t) if i == 0 => t.first_arrival_s,
                Some(t) => t.first_arrival_s + exp(&mut rng, t.mean_idle_s),
                None => f64::INFINITY,
            })
            .collect();
        let circuits = circuit_parents.len();
        SimSite {
            now_s: 0.0,
            physics,
            chargers: chargers.into_iter().map(SimCharger::new).collect(),
            base_load: vec![PerPhase::ZERO; circuits + 1],
            load_profiles: vec![None; circuits + 1],
            circuit_import_wh: vec![0.0; circuits],
            circuit_parents,
            traffic,
            rng,
            next_event_s,
            grid_import_wh: 0.0,
        }
    }

    /// Index of the grid connection in `base_load`.
    pub fn grid(&self) -> usize {
        self.circuit_parents.len()
    }

    /// Advance the simulation by `dt_s` seconds.
    pub fn step(&mut self, dt_s: f64) {
        self.now_s += dt_s;
        let now = self.now_s;
        for (load, profile) in self.base_load.iter_mut().zip(&self.load_profiles) {
            if let Some(p) = profile {
                *load = p.at(now);
            }
        }
        self.traffic_events(now);
        for c in &mut self.chargers {
            c.step(now, dt_s, &self.physics);
        }
        let v = self.physics.voltage_v;
        self.grid_import_wh += self.total_current(None).sum() * v * dt_s / 3600.0;
        for i in 0..self.circuit_parents.len() {
            self.circuit_import_wh[i] += self.total_current(Some(i)).sum() * v * dt_s / 3600.0;
        }
    }

    fn traffic_events(&mut self, now: f64) {
        let Some(t) = self.traffic.clone() else {
            return;
        };
        for i in 0..self.chargers.len() {
            if now < self.next_event_s[i] {
                continue;
            }
            let c = &mut self.chargers[i];
            match &c.car {
                None => {
                    let phases = if self.rng.random_bool(0.3) { 1 } else { 3 };
                    let max = [16.0, 16.0, 32.0, 11.0][self.rng.random_range(0..4)];
                    let tag = t.id_tags[self.rng.random_range(0..t.id_tags.len().max(1))].clone();
                    c.plug_in(Car {
                        max_current_a: max,
                        phases,
                        wants_wh: exp(&mut self.rng, t.mean_energy_wh).max(500.0),
                        id_tag: tag,
                    });
                    self.next_event_s[i] = f64::INFINITY;
                }
                Some(car) if car.wants_wh <= 0.0 && self.next_event_s[i].is_infinite() => {
                    self.next_event_s[i] = now + exp(&mut self.rng, t.mean_linger_s);
                }
                Some(car) if car.wants_wh <= 0.0 => {
                    c.unplug();
                    self.next_event_s[i] = now + exp(&mut self.rng, t.mean_idle_s);
                }
                Some(_) => {}
            }
        }
        // A full car is noticed on the next step.
        for i in 0..self.chargers.len() {
            if self.chargers[i]
                .car
                .as_ref()
                .is_some_and(|c| c.wants_wh <= 0.0)
                && self.next_event_s[i].is_infinite()
            {
                self.next_event_s[i] = now + exp(&mut self.rng, t.mean_linger_s);
            }
        }
    }

    /// True when circuit `c` is `ancestor` or below it (`None` = the grid: everything).
    fn under(&self, c: Option<usize>, ancestor: Option<usize>) -> bool {
        let Some(a) = ancestor else { return true };
        let mut cur = c;
        while let Some(x) = cur {
            if x == a {
                return true;
            }
            cur = self.circuit_parents.get(x).copied().flatten();
        }
        false
    }

    /// Total current on a circuit (`None` = grid connection) per grid phase (A).
    pub fn total_current(&self, circuit: Option<usize>) -> PerPhase<f64> {
        let mut total = match circuit {
            None => self.base_load[self.grid()],
            Some(_) => PerPhase::ZERO,
        };
        for (i, load) in self
            .base_load
            .iter()
            .enumerate()
            .take(self.circuit_parents.len())
        {
            if self.under(Some(i), circuit) {
                total = total + *load;
            }
        }
        for c in &self.chargers {
            if self.under(c.spec.circuit, circuit) {
                total = total + c.grid_draw();
            }
        }
        total
    }

    /// What a meter on `circuit` (`None` = the grid connection) reads now.
    pub fn meter(&self, circuit: Option<usize>) -> MeterReading {
        let v = self.physics.voltage_v;
        let current = self.total_current(circuit);
        MeterReading {
            voltage_v: PerPhase::splat(v),
            current_a: current,
            power_w: current.map(|a| a * v),
            import_wh: match circuit {
                None => self.grid_import_wh,
                Some(i) => self.circuit_import_wh.get(i).copied().unwrap_or(0.0),
            },
            export_wh: 0.0,
            frequency_hz: 50.0,
        }
    }
}

/// An exponentially distributed duration with the given mean.
fn exp(rng: &mut StdRng, mean: f64) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    -mean * u.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::Phase;

    fn spec(wiring: Vec<Phase>, circuit: Option<usize>) -> ChargerSpec {
        ChargerSpec {
            wiring: Wiring(wiring),
            circuit,
            max_current_a: 32.0,
            failsafe_current_a: 6.0,
            failsafe_timeout_s: 10.0,
        }
    }

    fn car(max: f64, phases: usize) -> Car {
        Car {
            max_current_a: max,
            phases,
            wants_wh: 50_000.0,
            id_tag: "TAG".into(),
        }
    }

    #[test]
    fn car_follows_setpoint_after_delays_and_meters_sum_per_phase() {
        let mut s = SimSite::new(
            1,
            Physics::default(),
            vec![spec(vec![Phase::L2], Some(0))],
            vec![None],
            None,
        );
        s.base_load[0] = PerPhase([5.0, 0.0, 0.0]);
        s.base_load[1] = PerPhase([10.0, 10.0, 10.0]);
        s.chargers[0].write_setpoint(16.0, 0.0);
        s.chargers[0].plug_in(car(32.0, 3));
        for _ in 0..50 {
            s.step(0.1);
        }
        // 1-phase charger on L2: only one phase draws, whatever the car could take.
        assert_eq!(s.chargers[0].draw_a, [16.0, 0.0, 0.0]);
        assert_eq!(s.total_current(Some(0)).0, [5.0, 16.0, 0.0]);
        assert_eq!(s.total_current(None).0, [15.0, 26.0, 10.0]);
        assert_eq!(s.chargers[0].pilot(), PilotState::C);
        // A cut is followed after the fall delay.
        s.chargers[0].write_setpoint(8.0, s.now_s);
        s.step(0.1);
        assert_eq!(s.chargers[0].draw_a[0], 16.0);
        for _ in 0..5 {
            s.step(0.1);
        }
        assert_eq!(s.chargers[0].draw_a[0], 8.0);
    }

    #[test]
    fn charger_falls_back_to_failsafe_when_the_controller_goes_quiet() {
        let mut s = SimSite::new(
            1,
            Physics::default(),
            vec![spec(vec![Phase::L1, Phase::L2, Phase::L3], None)],
            vec![],
            None,
        );
        s.chargers[0].write_setpoint(32.0, 0.0);
        s.chargers[0].plug_in(car(32.0, 3));
        for _ in 0..90 {
            s.step(0.1);
        }
        assert_eq!(s.chargers[0].draw_a, [32.0; 3]);
        for _ in 0..40 {
            s.step(0.1);
        }
        assert!(s.chargers[0].in_failsafe(s.now_s));
        assert_eq!(s.chargers[0].draw_a, [6.0; 3]);
    }

    #[test]
    fn below_six_amps_pauses_and_energy_accumulates() {
        let mut s = SimSite::new(
            1,
            Physics::default(),
            vec![spec(vec![Phase::L1, Phase::L2, Phase::L3], None)],
            vec![],
            None,
        );
        s.chargers[0].plug_in(car(16.0, 3));
        s.chargers[0].write_setpoint(5.0, 0.0);
        for _ in 0..30 {
            s.step(0.1);
        }
        assert_eq!(s.chargers[0].pilot(), PilotState::B);
        s.chargers[0].write_setpoint(16.0, s.now_s);
        for _ in 0..36_000 {
            s.step(0.1);
            let now = s.now_s;
            s.chargers[0].keep_alive(now);
        }
        // An hour at 16 A on 3 phases, minus the ramp: about 11 kWh.
        let e = s.chargers[0].session_energy_wh;
        assert!((10_900.0..11_100.0).contains(&e), "{e}");
    }

    #[test]
    fn traffic_is_deterministic_and_brings_a_car_early() {
        let specs = vec![spec(vec![Phase::L1, Phase::L2, Phase::L3], None); 4];
        let run = |seed| {
            let mut s = SimSite::new(
                seed,
                Physics::default(),
                specs.clone(),
                vec![],
                Some(Traffic::default()),
            );
            for c in &mut s.chargers {
                c.write_setpoint(16.0, 0.0);
            }
            let mut first_car = None;
            for k in 0..3000 {
                s.step(0.1);
                for c in &mut s.chargers {
                    c.keep_alive(s.now_s);
                }
                if first_car.is_none() && s.chargers.iter().any(|c| c.car.is_some()) {
                    first_car = Some(k);
                }
            }
            (first_car, s.meter(None).import_wh)
        };
        let (a, ea) = run(7);
        let (b, eb) = run(7);
        assert_eq!((a, ea), (b, eb));
        assert!(a.is_some_and(|k| k <= 30), "first car at step {a:?}");
        assert!(ea > 0.0);
    }
}
