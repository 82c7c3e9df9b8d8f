//! The ACL matcher against a plain reference: for any patterns and scope,
//! the compiled matcher grants exactly what a memoized backtracking reading
//! of the grammar (src/token/acl.rs) grants. Input: patterns on the first
//! line, separated by `,`; the scope on the second.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::token::acl::{AclContext, AclSet, MAX_SCOPE_LEN};

const CTX: AclContext<'static> = AclContext {
    auth_id: "a1",
    session_id: "s.1",
};

/// One piece of a pattern, read independently of the compiled matcher.
#[derive(Debug)]
enum Atom {
    Byte(u8),
    OneOf(Vec<&'static [u8]>),
    Star,
    Hash,
}

fn atoms(pattern: &str) -> Vec<Atom> {
    let mut out = Vec::new();
    for (i, segment) in pattern.split('.').enumerate() {
        if i > 0 {
            out.push(Atom::Byte(b'.'));
        }
        match segment {
            "me" => out.push(Atom::OneOf(vec![b"me", b"a1"])),
            "my_session" => out.push(Atom::OneOf(vec![b"my_session", b"s.1"])),
            "edit" => out.push(Atom::OneOf(vec![b"edit", b"update"])),
            _ => out.extend(segment.bytes().map(|b| match b {
                b'*' => Atom::Star,
                b'#' => Atom::Hash,
                other => Atom::Byte(other),
            })),
        }
    }
    out
}

/// Whether `atoms[i..]` matches exactly `scope[j..]`, memoized.
fn reference(
    atoms: &[Atom],
    scope: &[u8],
    i: usize,
    j: usize,
    memo: &mut Vec<Option<bool>>,
) -> bool {
    let slot = i * (scope.len() + 1) + j;
    if let Some(known) = memo[slot] {
        return known;
    }
    let result = match atoms.get(i) {
        None => j == scope.len(),
        Some(Atom::Byte(b)) => {
            scope.get(j) == Some(b) && reference(atoms, scope, i + 1, j + 1, memo)
        }
        Some(Atom::OneOf(alts)) => alts.iter().any(|alt| {
            scope[j..].starts_with(alt) && reference(atoms, scope, i + 1, j + alt.len(), memo)
        }),
        Some(Atom::Star) => {
            let mut k = j;
            loop {
                if reference(atoms, scope, i + 1, k, memo) {
                    break true;
                }
                match scope.get(k) {
                    Some(b'.') | Some(b'#') | None => break false,
                    Some(_) => k += 1,
                }
            }
        }
        Some(Atom::Hash) => (j..=scope.len()).any(|k| reference(atoms, scope, i + 1, k, memo)),
    };
    memo[slot] = Some(result);
    result
}

fn reference_matches(pattern: &str, scope: &str) -> bool {
    let atoms = atoms(pattern);
    let scope = scope.as_bytes();
    let mut memo = vec![None; (atoms.len() + 1) * (scope.len() + 1)];
    reference(&atoms, scope, 0, 0, &mut memo)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (patterns, scope) = text.split_once('\n').unwrap_or((text, ""));
    if patterns.len() > 256 || scope.len() > 256 {
        return;
    }
    let patterns: Vec<&str> = patterns.split(',').collect();
    let set = AclSet::compile(&patterns, CTX);
    let allowed = patterns
        .iter()
        .filter(|p| !p.starts_with('!'))
        .any(|p| reference_matches(p, scope));
    let denied = patterns
        .iter()
        .filter_map(|p| p.strip_prefix('!'))
        .any(|p| reference_matches(p, scope));
    let expected = scope.len() <= MAX_SCOPE_LEN && allowed && !denied;
    assert_eq!(
        set.grants(scope),
        expected,
        "patterns {patterns:?}, scope {scope:?}"
    );
});
