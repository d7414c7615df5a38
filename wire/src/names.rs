//! Names both sides check: a Kubernetes namespace or a cluster name is a DNS-1123 label.

/// A Kubernetes namespace name: a DNS-1123 label.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::is_dns_label;

    #[test]
    fn a_dns_label_is_lower_case_alphanumeric_and_inner_dashes_up_to_63() {
        for good in ["payments", "a", "prod-eu-1", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in [
            "",
            "Payments",
            "-prod",
            "prod-",
            "prod_eu",
            "prod.eu",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
