//! Compile-pass and compile-fail cases of the macros; the `.stderr` files
//! pin each misuse's message and span. One test, because trybuild builds
//! every case in one go and that is slow.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
