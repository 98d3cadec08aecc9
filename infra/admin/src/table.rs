//! Creates the table from template.yaml's `AWS::DynamoDB::Table`, so the local table and
//! the deployed one never drift.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;
use serde_yaml::Value;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableProperties {
    attribute_definitions: Vec<Attr>,
    key_schema: Vec<Key>,
    #[serde(default)]
    global_secondary_indexes: Vec<Gsi>,
    #[serde(default)]
    time_to_live_specification: Option<Ttl>,
    #[serde(default)]
    stream_specification: Option<Stream>,
}

/// The table's stream (what a `Type: DynamoDB` event of a function reads; infra/fleet.py
/// polls it locally). CloudFormation has no `StreamEnabled`: a view type turns it on.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Stream {
    stream_view_type: String,
}

/// The attribute whose epoch seconds expire an item (the velocity counters' `expiresAt`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ttl {
    attribute_name: String,
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attr {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Key {
    attribute_name: String,
    key_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Gsi {
    index_name: String,
    key_schema: Vec<Key>,
    projection: ProjectionDef,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectionDef {
    projection_type: String,
    #[serde(default)]
    non_key_attributes: Option<Vec<String>>,
}

/// The one table's properties. CloudFormation tags (`!Ref`, `!Sub`) elsewhere are ignored.
fn table_properties(template: &str) -> Result<TableProperties> {
    let doc: Value = serde_yaml::from_str(template)?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or("template has no Resources")?;
    let mut tables = resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"));
    let table = tables
        .next()
        .ok_or("template defines no AWS::DynamoDB::Table")?;
    if tables.next().is_some() {
        return Err("template defines more than one table; cardvault uses one".into());
    }
    let props = table.get("Properties").ok_or("table has no Properties")?;
    Ok(serde_yaml::from_value(props.clone())?)
}

fn key_schema(keys: &[Key]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}

/// Returns whether the table was created (false: it already existed).
pub async fn create_from_template(client: &Client, name: &str, path: &str) -> Result<bool> {
    let props = table_properties(&std::fs::read_to_string(path)?)?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&props.key_schema)?));
    for a in &props.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()?,
        );
    }
    if let Some(stream) = &props.stream_specification {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()?,
        );
    }
    for g in &props.global_secondary_indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g.projection.projection_type.as_str(),
                        ))
                        .set_non_key_attributes(g.projection.non_key_attributes.clone())
                        .build(),
                )
                .build()?,
        );
    }
    match req.send().await {
        Ok(_) => {
            if let Some(ttl) = props.time_to_live_specification.filter(|t| t.enabled) {
                client
                    .update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(
                        aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                            .attribute_name(ttl.attribute_name)
                            .enabled(true)
                            .build()?,
                    )
                    .send()
                    .await
                    .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
            }
            Ok(true)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(aws_sdk_dynamodb::error::DisplayErrorContext(e)
            .to_string()
            .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_own_template() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let props = table_properties(&std::fs::read_to_string(path).unwrap()).unwrap();
        let pk: Vec<_> = props
            .key_schema
            .iter()
            .map(|k| k.attribute_name.as_str())
            .collect();
        assert_eq!(pk, ["PK", "SK"]);
        assert!(props
            .global_secondary_indexes
            .iter()
            .any(|g| g.index_name == "GSI1"));
        let ttl = props.time_to_live_specification.expect("a TTL");
        assert_eq!(
            (ttl.attribute_name.as_str(), ttl.enabled),
            ("expiresAt", true)
        );
    }

    #[test]
    fn reads_a_stream_specification() {
        let template = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      \
            AttributeDefinitions: []\n      KeySchema: []\n      \
            StreamSpecification:\n        StreamViewType: NEW_AND_OLD_IMAGES\n";
        let props = table_properties(template).unwrap();
        let stream = props.stream_specification.expect("a stream");
        assert_eq!(stream.stream_view_type, "NEW_AND_OLD_IMAGES");
    }

    /// An index copies what it projects: never `ALL` (card data would follow), and within
    /// DynamoDB's limit of 100 projected non-key attributes across the table's indexes.
    #[test]
    fn indexes_project_only_listed_attributes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let props = table_properties(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut projected = 0;
        for g in &props.global_secondary_indexes {
            let p = &g.projection;
            assert!(
                matches!(p.projection_type.as_str(), "INCLUDE" | "KEYS_ONLY"),
                "{}: {}",
                g.index_name,
                p.projection_type
            );
            projected += p.non_key_attributes.as_ref().map_or(0, Vec::len);
        }
        assert!(projected <= 100, "{projected}");
    }
}
