//! Deploy-ledger files as the ledger store reads them from the ledger
//! branch (`gitops::ledger::parse_record`): an environment's
//! `_environment.yaml` or a cluster's `<cluster>.yaml`. Input: the file's
//! path on the first line (a cluster's when empty), then its text.
//! Checked: no panic; a problem names a line of the file; a record that
//! parses writes back (`to_yaml`) to text that parses to the same record,
//! as every later deploy rewrites it; and its commit subject fits
//! `git log --oneline`.
#![no_main]

use conductor::gitops::ledger::{self, Record};
use conductor_fuzz::{assert_line_in, header_and_body, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(input) = text(data) else { return };
    let (path, text) = header_and_body(input);
    let path = if path.is_empty() {
        "shop/production/eu-west-1.yaml"
    } else {
        path
    };
    let record = match ledger::parse_record(path, text) {
        Ok(record) => record,
        Err(ledger::LedgerError::Parse { line, message, .. }) => {
            assert_line_in(text, line, &message);
            return;
        }
        Err(other) => panic!("parsing gave {other}"),
    };
    let written = match &record {
        Record::Cluster(r) => ledger::to_yaml(r),
        Record::Environment(r) => ledger::to_yaml(r),
    }
    .unwrap_or_else(|e| panic!("a parsed record does not write: {e}"));
    let reread = ledger::parse_record(path, &written)
        .unwrap_or_else(|e| panic!("a written record does not parse: {e}\n{written}"));
    assert_eq!(
        reread, record,
        "the record changed on its way through its file"
    );
    if let Record::Cluster(r) = &record {
        let message = ledger::message(
            "shop",
            "production",
            Some("eu-west-1"),
            &ledger::describe(r),
        );
        let subject = message.lines().next().unwrap_or_default();
        assert!(subject.chars().count() <= 72, "subject too long: {subject}");
    }
});
