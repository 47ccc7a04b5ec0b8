//! Flight descriptors → checked download specs.

use arrow_flight::FlightDescriptor;
use arrow_flight::flight_descriptor::DescriptorType;
use laker_catalog::DatasetName;

use super::CheckedSpec;
use crate::error::{Error, Result};

/// A path descriptor `["namespace", "dataset"]` (or `["namespace.dataset"]`)
/// means the whole dataset; a command descriptor holds a JSON download spec.
pub fn descriptor_spec(descriptor: &FlightDescriptor) -> Result<CheckedSpec> {
    match DescriptorType::try_from(descriptor.r#type) {
        Ok(DescriptorType::Path) => {
            let name = match descriptor.path.as_slice() {
                [ns, ds] => DatasetName::new(ns, ds)?,
                [qualified] => DatasetName::parse(qualified)?,
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "descriptor path must be [\"namespace\", \"dataset\"], got {} elements",
                        other.len()
                    )));
                }
            };
            Ok(CheckedSpec::whole(&name))
        }
        Ok(DescriptorType::Cmd) => CheckedSpec::from_json(&descriptor.cmd),
        _ => Err(Error::InvalidArgument(
            "descriptor type must be PATH or CMD".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use laker_query::DownloadSpec;

    use super::*;

    #[test]
    fn forms() {
        let s = descriptor_spec(&FlightDescriptor::new_path(vec![
            "demo".into(),
            "trips".into(),
        ]))
        .unwrap();
        assert_eq!(
            s.spec(),
            &DownloadSpec::whole(&DatasetName::parse("demo.trips").unwrap())
        );
        let s = descriptor_spec(&FlightDescriptor::new_path(vec!["Demo.Trips".into()])).unwrap();
        assert_eq!(s.spec().dataset, "demo.trips");
        let s = descriptor_spec(&FlightDescriptor::new_cmd(
            r#"{"dataset":"demo.zones","limit":3}"#,
        ))
        .unwrap();
        assert_eq!(s.spec().limit, Some(3));
        for bad in [
            FlightDescriptor::new_path(vec![]),
            FlightDescriptor::new_path(vec!["a".into(), "b".into(), "c".into()]),
            FlightDescriptor::new_cmd("{"),
            FlightDescriptor {
                r#type: 0,
                ..Default::default()
            },
        ] {
            assert!(descriptor_spec(&bad).is_err(), "{bad:?}");
        }
    }
}
