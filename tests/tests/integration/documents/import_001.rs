//! Seed 001, another copy of the import page (its card ids start with `card_`). Its curl
//! sample lost its URL (`curl -X POST ""`) and its Python sample its request line
//! (`r ='', data=…`); the URL is put back as seed 000 gives it. The request bodies are the
//! same as 000's, and so are the answers.

use cardvault_tests::*;

use super::import_000::{csharp, curl, python};
use super::verbatim;

#[test]
fn the_python_sample_is_000s_but_for_its_request_line() {
    let head = verbatim("001/python-head.txt").rsplit_once('\n').unwrap().0;
    assert!(verbatim("000/python.py").contains(head));
}

#[tokio::test]
async fn the_curl_sample() {
    let to = format!(
        "\"{}/v1/paymentMethodImport/stripeConnect\"",
        stack().base_url
    );
    curl(verbatim("001/curl.sh"), ("\"\"", &to)).await;
}

#[tokio::test]
async fn the_python_sample() {
    python(verbatim("000/python.py")).await;
}

#[tokio::test]
async fn the_csharp_sample() {
    csharp(verbatim("001/csharp-json.cs")).await;
}
