//! The test stack's DynamoDB table, read directly.

use crate::stack;

pub async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// How many payment methods a customer has, read straight from the table.
pub async fn payment_method_count(customer: u64) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let out = client
        .query()
        .table_name(&stack().table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :pm)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("CUST#{customer}")))
        .expression_attribute_values(":pm", AttributeValue::S("PM#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("query");
    out.items().len()
}

/// Every item of the table, or of one of its indexes, by Scan.
pub async fn scan_items(
    index: Option<&str>,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&aws().await)
        .scan()
        .table_name(&stack().table)
        .set_index_name(index.map(str::to_owned))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan")
}

/// Every string in the table: attribute names and values, nested ones included.
pub async fn scan_table_strings() -> Vec<String> {
    let items = scan_items(None).await;
    fn walk(v: &aws_sdk_dynamodb::types::AttributeValue, out: &mut Vec<String>) {
        match v {
            aws_sdk_dynamodb::types::AttributeValue::S(s) => out.push(s.clone()),
            aws_sdk_dynamodb::types::AttributeValue::L(l) => l.iter().for_each(|x| walk(x, out)),
            aws_sdk_dynamodb::types::AttributeValue::M(m) => m.values().for_each(|x| walk(x, out)),
            aws_sdk_dynamodb::types::AttributeValue::Ss(ss) => out.extend(ss.iter().cloned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in &items {
        for (k, v) in item {
            out.push(k.clone());
            walk(v, &mut out);
        }
    }
    out
}

/// An item as stored (consistent read), as JSON.
async fn stored_item(pk: String, sk: String) -> serde_json::Value {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let out = client
        .get_item()
        .table_name(&stack().table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    serde_dynamo::from_item(out.item.expect("item")).unwrap()
}

/// A payment method's item as stored, as JSON.
pub async fn payment_method_item(customer: u64, pm: u64) -> serde_json::Value {
    stored_item(format!("CUST#{customer}"), format!("PM#{pm}")).await
}

/// A customer's item as stored, as JSON.
pub async fn customer_item(customer: u64) -> serde_json::Value {
    stored_item(format!("CUST#{customer}"), "CUSTOMER".into()).await
}

/// Changes a payment method's item behind the vault's back (`update` with string values
/// `values`), to set up a state an older version or a concurrent writer left.
pub async fn update_payment_method_item(
    customer: u64,
    pm: u64,
    update: &str,
    values: &[(&str, &str)],
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut request = aws_sdk_dynamodb::Client::new(&aws().await)
        .update_item()
        .table_name(&stack().table)
        .key("PK", AttributeValue::S(format!("CUST#{customer}")))
        .key("SK", AttributeValue::S(format!("PM#{pm}")))
        .update_expression(update);
    for (name, value) in values {
        request = request.expression_attribute_values(*name, AttributeValue::S((*value).into()));
    }
    request.send().await.unwrap();
}

/// Takes a card's StripeRefs index keys away, as on a card written before the index existed.
pub async fn forget_stripe_index(customer: u64, pm: u64) {
    update_payment_method_item(customer, pm, "REMOVE STRIPEPK, STRIPESK", &[]).await;
}
