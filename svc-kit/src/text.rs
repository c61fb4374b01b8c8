//! Text as the people of the platform write it: Romanian (ș, ț, ă, î, â, and the cedilla forms
//! ş, ţ that older keyboards still produce), Ukrainian and Russian in Cyrillic, English. A
//! search must find "Ștefan Țurcanu" whether it was typed as "stefan", "ştefan" (cedilla) or
//! "ȘTEFAN", and "Олена" whatever its case.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// What a search compares: compatibility-decomposed, diacritics dropped, lower case, the
/// apostrophes of Ukrainian names (’ ʼ ') made one, runs of white space made one space.
/// Folding both the stored text and the query with it makes matching ignore what a person
/// would not distinguish when looking someone up.
pub fn search_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    let mut space = false;
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_whitespace() {
            space = !key.is_empty();
            continue;
        }
        if space {
            key.push(' ');
            space = false;
        }
        match c {
            '\u{2019}' | '\u{02BC}' | '\u{2018}' | '`' => key.push('\''),
            c => key.extend(c.to_lowercase()),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn romanian_names_match_however_they_were_typed() {
        let stored = search_key("Ștefan Țurcanu");
        assert_eq!(stored, "stefan turcanu");
        for typed in ["ştefan ţurcanu", "STEFAN", "ȘTEFAN  ȚURCANU", "Ştefan"] {
            assert!(stored.contains(&search_key(typed)), "{typed}");
        }
        assert_eq!(
            search_key("Ioana Bălănescu-Mîndru"),
            "ioana balanescu-mindru"
        );
    }

    #[test]
    fn cyrillic_names_fold_case_and_apostrophes() {
        assert_eq!(search_key("Олена КОВАЛЕНКО"), "олена коваленко");
        assert_eq!(search_key("Мар’яна"), search_key("Мар'яна"));
        assert_eq!(search_key("Мар\u{02BC}яна"), search_key("мар'яна"));
        assert!(search_key("Олександр Іваненко").contains(&search_key("іваненко")));
    }

    #[test]
    fn the_same_letter_in_two_encodings_is_one_key() {
        // "ă" precomposed and as "a" + combining breve.
        assert_eq!(search_key("B\u{0103}l"), search_key("Ba\u{0306}l"));
    }
}
