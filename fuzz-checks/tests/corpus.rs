//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the
//! checks of its target, so `cargo test` covers what the fuzzer found
//! without the fuzzer.

use std::fs;
use std::path::Path;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, check) in ilink_fuzz_checks::TARGETS {
        let dir = root.join(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // A failing input names itself in the panic message.
            eprintln!("{target}: {}", path.display());
            check(&data);
            replayed += 1;
        }
        assert!(replayed > 0, "the corpus of {target} is empty");
    }
}
