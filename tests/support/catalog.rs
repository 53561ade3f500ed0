//! A driver catalog naming the two drivers the config fixtures use.
use hubgate::config::{DeviceKind, DriverCatalog};

pub struct Fake;
impl DriverCatalog for Fake {
    fn kind_of(&self, name: &str) -> Option<DeviceKind> {
        match name {
            "eastron-sdm630" => Some(DeviceKind::Meter),
            "abb-terra-ac" => Some(DeviceKind::Charger),
            _ => None,
        }
    }
    fn names(&self) -> Vec<String> {
        vec!["eastron-sdm630".into(), "abb-terra-ac".into()]
    }
}
pub fn catalog() -> Fake {
    Fake
}
