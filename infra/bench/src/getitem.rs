//! Baseline: one DynamoDB GetItem per request, with the SDK set up as every function sets
//! it up (`cardvault_aws::sdk::sdk_config`) and nothing else: what one necessary round trip
//! costs, cold and warm.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("TABLE_NAME")?;
    let aws = cardvault_aws::sdk::sdk_config()?;
    let db = aws_sdk_dynamodb::Client::new(&aws);
    let (db, table) = (&db, table.as_str());
    run(service_fn(move |_: Request| async move {
        let item = db
            .get_item()
            .table_name(table)
            .key("PK", AttributeValue::S("BENCH#baseline".into()))
            .key("SK", AttributeValue::S("BENCH#baseline".into()))
            .send()
            .await?;
        let status = if item.item.is_some() { 200 } else { 404 };
        Ok::<_, Error>(
            Response::builder()
                .status(status)
                .body(Body::Empty)
                .expect("a valid response"),
        )
    }))
    .await
}
