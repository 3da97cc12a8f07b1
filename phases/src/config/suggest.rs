//! "Did you mean …?": the known name closest to a misspelt one.

/// The closest known name, if close enough to be a typo.
pub fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::levenshtein(&name.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            suggest("extraArg", &["extraArgs", "extraVolumes"]),
            Some("extraArgs")
        );
        assert_eq!(
            suggest("certSans", &["certSANs", "extraArgs"]),
            Some("certSANs")
        );
        assert_eq!(suggest("zzz", &["extraArgs"]), None);
    }
}
