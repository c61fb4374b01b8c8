//! What a document asks for once its fragments are expanded, measured before async-graphql
//! validates it and in time linear in the document's size: each fragment is measured once,
//! however often it is spread. A document of 28 fragments each spreading the next twice is
//! about a kilobyte, and 2^28 selections when expanded; walking it naively (as a validator
//! does) takes minutes, and a fragment that spreads itself would never end.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The most selections a document may expand to. The complexity limit (1,000 by default)
/// refuses real queries long before this; it only keeps the walk ahead of it bounded.
pub(crate) const MAX_EXPANDED_SELECTIONS: u64 = 10_000;

/// The most aliased fields one operation may select, fragments expanded. Clients alias a
/// field to ask for it twice with other arguments (two doctors' slots side by side); hundreds
/// of aliases are one request made to do the work of hundreds, each a call to a service.
pub(crate) const MAX_ALIASES: u64 = 64;

/// Why a document is refused before it is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Oversize {
    /// The fragment spreads itself, directly or through others.
    Cycle(String),
    /// Expanded, the document selects more than [`MAX_EXPANDED_SELECTIONS`] fields.
    TooLarge,
    /// Expanded, an operation aliases more than [`MAX_ALIASES`] fields.
    TooManyAliases,
}

/// Checks every operation and every fragment of `document` (a validator walks fragments that
/// no operation uses, too): none may expand past [`MAX_EXPANDED_SELECTIONS`] or spread itself,
/// and no operation may alias more than [`MAX_ALIASES`] fields.
pub(crate) fn check_document(document: &ExecutableDocument) -> Result<(), Oversize> {
    let mut sizes = HashMap::new();
    for (_, operation) in document.operations.iter() {
        let size = measure(document, &operation.node.selection_set.node, &mut sizes)?;
        if size.aliases > MAX_ALIASES {
            return Err(Oversize::TooManyAliases);
        }
    }
    // In name order, so one document always meets the same refusal first (the parser keeps
    // fragments in a hash map, whose order changes from run to run).
    let mut fragments: Vec<_> = document.fragments.iter().collect();
    fragments.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (name, fragment) in fragments {
        if !sizes.contains_key(name.as_str()) {
            sizes.insert(name.as_str(), Size::Measuring);
            let size = measure(document, &fragment.node.selection_set.node, &mut sizes)?;
            sizes.insert(name.as_str(), Size::Known(size));
        }
    }
    Ok(())
}

/// How many field selections `set` makes once its fragments are expanded, each fragment
/// measured once.
#[cfg(test)]
fn expanded_selections(document: &ExecutableDocument, set: &SelectionSet) -> Result<u64, Oversize> {
    measure(document, set, &mut HashMap::new()).map(|size| size.selections)
}

/// What a selection set asks for, expanded: its field selections, and how many of them are
/// aliased.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    selections: u64,
    aliases: u64,
}

impl Measure {
    fn add(&mut self, other: Measure) {
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
    }
}

/// A fragment being measured (a spread of it now is a cycle), or its size.
#[derive(Debug, Clone, Copy)]
enum Size {
    Measuring,
    Known(Measure),
}

fn measure<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    sizes: &mut HashMap<&'a str, Size>,
) -> Result<Measure, Oversize> {
    let mut total = Measure::default();
    for selection in &set.items {
        let size = match &selection.node {
            Selection::Field(field) => {
                let mut size = Measure {
                    selections: 1,
                    aliases: u64::from(field.node.alias.is_some()),
                };
                size.add(measure(document, &field.node.selection_set.node, sizes)?);
                size
            }
            Selection::InlineFragment(fragment) => {
                measure(document, &fragment.node.selection_set.node, sizes)?
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match sizes.get(name) {
                    Some(Size::Known(size)) => *size,
                    Some(Size::Measuring) => return Err(Oversize::Cycle(name.to_string())),
                    None => match document.fragments.get(&spread.node.fragment_name.node) {
                        // An unknown fragment is the validator's to report.
                        None => Measure::default(),
                        Some(fragment) => {
                            sizes.insert(name, Size::Measuring);
                            let size = measure(document, &fragment.node.selection_set.node, sizes)?;
                            sizes.insert(name, Size::Known(size));
                            size
                        }
                    },
                }
            }
        };
        total.add(size);
        if total.selections > MAX_EXPANDED_SELECTIONS {
            return Err(Oversize::TooLarge);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn operation_size(query: &str) -> Result<u64, Oversize> {
        let document = parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        expanded_selections(&document, &operation.node.selection_set.node)
    }

    /// F0 … F(n-1), each spreading the next twice; the last selects one field.
    fn bomb(n: usize) -> String {
        let mut query = String::from("query { ...F0 }\n");
        for i in 0..n - 1 {
            let next = i + 1;
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{next} ...F{next} }}\n"
            ));
        }
        query.push_str(&format!("fragment F{} on Query {{ version }}\n", n - 1));
        query
    }

    #[test]
    fn fragments_are_counted_as_expanded() {
        assert_eq!(
            operation_size("{ me { username } version ... on Query { version } }"),
            Ok(4)
        );
        assert_eq!(operation_size(&bomb(5)), Ok(16));
    }

    #[test]
    fn a_fragment_bomb_is_refused_at_once() {
        assert_eq!(operation_size(&bomb(28)), Err(Oversize::TooLarge));
        assert_eq!(operation_size(&bomb(200)), Err(Oversize::TooLarge));
    }

    #[test]
    fn an_unused_fragment_is_checked_too() {
        let mut query = bomb(40).replacen("query { ...F0 }", "query { version }", 1);
        query.push_str("fragment Z on Query { ...Z }\n");
        let document = parse_query(&query).unwrap();
        assert_eq!(check_document(&document), Err(Oversize::TooLarge));
        let document = parse_query("{ version } fragment Z on Query { ...Z }").unwrap();
        assert_eq!(
            check_document(&document),
            Err(Oversize::Cycle("Z".to_string()))
        );
        let document = parse_query("{ version ...Y } fragment Y on Query { me { username } }");
        assert_eq!(check_document(&document.unwrap()), Ok(()));
    }

    #[test]
    fn aliases_are_counted_through_fragments() {
        let aliased = |n: usize| {
            (0..n)
                .map(|i| format!("a{i}: version"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let within = format!("{{ {} }}", aliased(64));
        assert_eq!(check_document(&parse_query(&within).unwrap()), Ok(()));
        let over = format!("{{ {} }}", aliased(65));
        assert_eq!(
            check_document(&parse_query(&over).unwrap()),
            Err(Oversize::TooManyAliases)
        );
        // 40 aliases in a fragment spread twice are 80.
        let spread = format!(
            "{{ ...A ... on Query {{ ...A }} }} fragment A on Query {{ {} }}",
            aliased(40)
        );
        assert_eq!(
            check_document(&parse_query(&spread).unwrap()),
            Err(Oversize::TooManyAliases)
        );
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused() {
        assert_eq!(
            operation_size(
                "query { ...A } fragment A on Query { version ...B } fragment B on Query { ...A }"
            ),
            Err(Oversize::Cycle("A".to_string()))
        );
    }
}
