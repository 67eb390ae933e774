//! Injected faults: management outage, random errors, rate limiting, extra latency.

use serde::{Deserialize, Serialize};

/// The faults in force. [`Faults::default`] is "no faults".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Management routes answer 503.
    pub management_outage: bool,
    /// Fraction (0..=1) of resource requests that answer `error_status`.
    pub error_rate: f64,
    /// Status of injected errors (400..=599).
    pub error_status: u16,
    /// Fraction (0..=1) of resource requests that answer 429 with `Retry-After`.
    pub rate_limited_rate: f64,
    /// The `Retry-After` seconds of injected 429 answers.
    pub retry_after_s: u64,
    /// Added to every API answer, on top of `--latency`.
    pub extra_latency_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            management_outage: false,
            error_rate: 0.0,
            error_status: 503,
            rate_limited_rate: 0.0,
            retry_after_s: 1,
            extra_latency_ms: 0,
        }
    }
}

/// A change to [`Faults`]: absent fields keep their current value (`{}` changes nothing).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_outage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_latency_ms: Option<u64>,
}

/// A fault setting out of range.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultsError {
    #[error("'{field}' must be a fraction from 0 to 1, got {value}")]
    Rate { field: &'static str, value: f64 },
    #[error("'error_status' must be an HTTP error status from 400 to 599, got {0}")]
    Status(u16),
}

impl FaultsPatch {
    pub fn validate(&self) -> Result<(), FaultsError> {
        for (field, value) in [
            ("error_rate", self.error_rate),
            ("rate_limited_rate", self.rate_limited_rate),
        ] {
            if let Some(value) = value
                && !(0.0..=1.0).contains(&value)
            {
                return Err(FaultsError::Rate { field, value });
            }
        }
        if let Some(status) = self.error_status
            && !(400..=599).contains(&status)
        {
            return Err(FaultsError::Status(status));
        }
        Ok(())
    }
}

impl Faults {
    /// Applies the fields present in `patch`. Out-of-range values are clamped (rates into 0..=1,
    /// the status into 400..=599); the HTTP route rejects them with [`FaultsPatch::validate`].
    pub fn apply(&mut self, patch: &FaultsPatch) {
        let rate = |r: f64| if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) };
        if let Some(v) = patch.management_outage {
            self.management_outage = v;
        }
        if let Some(v) = patch.error_rate {
            self.error_rate = rate(v);
        }
        if let Some(v) = patch.error_status {
            self.error_status = v.clamp(400, 599);
        }
        if let Some(v) = patch.rate_limited_rate {
            self.rate_limited_rate = rate(v);
        }
        if let Some(v) = patch.retry_after_s {
            self.retry_after_s = v;
        }
        if let Some(v) = patch.extra_latency_ms {
            self.extra_latency_ms = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_patch_keeps_everything_and_fields_apply_one_by_one() {
        let mut f = Faults::default();
        f.apply(&serde_json::from_str(r#"{"error_rate":0.25,"retry_after_s":4}"#).unwrap());
        let before = f.clone();
        f.apply(&serde_json::from_str("{}").unwrap());
        assert_eq!(f, before);
        f.apply(&FaultsPatch {
            management_outage: Some(true),
            ..Default::default()
        });
        assert!(f.management_outage);
        assert_eq!(f.error_rate, 0.25);
        assert_eq!(f.retry_after_s, 4);
    }

    #[test]
    fn out_of_range_values_are_rejected_or_clamped() {
        let p: FaultsPatch = serde_json::from_str(r#"{"error_rate":1.5}"#).unwrap();
        assert!(matches!(
            p.validate(),
            Err(FaultsError::Rate {
                field: "error_rate",
                ..
            })
        ));
        let p: FaultsPatch = serde_json::from_str(r#"{"error_status":200}"#).unwrap();
        assert_eq!(p.validate(), Err(FaultsError::Status(200)));
        let mut f = Faults::default();
        f.apply(&FaultsPatch {
            error_rate: Some(7.0),
            error_status: Some(200),
            ..Default::default()
        });
        assert_eq!((f.error_rate, f.error_status), (1.0, 400));
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"error_rat":1}"#).is_err());
    }
}
