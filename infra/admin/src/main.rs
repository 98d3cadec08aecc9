//! cardvault-admin: the operator's CLI. Every command prints JSON, so scripts can drive it.
//! Endpoints and credentials come from the standard AWS variables (`AWS_ENDPOINT_URL_*`).

mod table;

use aws_config::BehaviorVersion;
use cardvault::domain::{ApiKeyRecord, StripeConnection, Tenant, TenantId};
use cardvault::ports::TenantStore;
use cardvault::secret::{random_token, ApiKey};
use cardvault::store::Store;

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "cardvault-admin", about = "Operate a cardvault deployment")]
struct Cli {
    /// The DynamoDB table.
    #[arg(long, env = "TABLE_NAME", default_value = "cardvault")]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table from template.yaml's own definition (no-op if it exists).
    CreateTable {
        #[arg(long, default_value = "template.yaml")]
        template: String,
    },
    /// Create or overwrite a Secrets Manager secret's string value.
    PutSecret {
        #[arg(long)]
        id: String,
        #[arg(long)]
        value: String,
    },
    /// Create a tenant.
    CreateTenant {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// ISO 4217 currency for collections.
        #[arg(long, default_value = "usd")]
        currency: String,
    },
    /// Show a tenant's settings and its keys (hashes are never shown, keys cannot be).
    ShowTenant {
        #[arg(long)]
        tenant: String,
    },
    /// Issue a private API key. It is printed once; only its SHA-256 hash is stored.
    IssueKey {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a private API key by its key id.
    RevokeKey {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key_id: String,
    },
    /// Set (or generate) the tenant's public API key for the transparent redirect.
    SetPublicKey {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key: Option<String>,
    },
    /// Replace the origins allowed to use the transparent redirect.
    SetOrigins {
        #[arg(long)]
        tenant: String,
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
    },
    /// Set the Stripe connection: a connected account, or a secret holding the tenant's own key.
    SetStripe {
        #[arg(long)]
        tenant: String,
        #[arg(
            long,
            conflicts_with = "secret_id",
            required_unless_present = "secret_id"
        )]
        account: Option<String>,
        #[arg(long)]
        secret_id: Option<String>,
        /// The tenant's own publishable key (pk_…), shown by /card/getStripe.
        #[arg(long, requires = "secret_id")]
        publishable_key: Option<String>,
    },
    /// Transparent-redirect settings: require the AVS fields, the risk fields.
    SetRedirectSettings {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        require_avs: bool,
        #[arg(long)]
        require_risk_fields: bool,
    },
    /// Add a new vault encryption key and make it current; old keys stay for decryption.
    RotateVaultKey {
        #[arg(
            long,
            env = "VAULT_KEYS_SECRET_ID",
            default_value = "cardvault/vault-keys"
        )]
        secret_id: String,
    },
    /// Mint an HS256 bearer JWT for the user and billing card APIs, signed with the
    /// platform secret's jwtSecret (or --secret). Claim names follow JWT_*_CLAIM.
    MintJwt {
        #[arg(long)]
        tenant: String,
        /// The user id (`sub`).
        #[arg(long)]
        sub: String,
        /// The billing account (`account` claim).
        #[arg(long)]
        account: Option<String>,
        /// owner, admin or user.
        #[arg(long)]
        role: Option<String>,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
        #[arg(long, env = "JWT_ISSUER", default_value = "cardvault")]
        issuer: String,
        #[arg(long, env = "JWT_AUDIENCE", default_value = "cardvault")]
        audience: String,
        /// The HS256 key itself, instead of the platform secret's jwtSecret.
        #[arg(long, env = "CARDVAULT_JWT_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long, env = "PLATFORM_SECRET_ID", default_value = "cardvault/platform")]
        platform_secret_id: String,
    },
    /// Use the tenant's own reCAPTCHA secret (a Secrets Manager id) instead of the platform's.
    SetRecaptchaSecret {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        secret_id: String,
    },
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(out) => println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default()),
        Err(e) => {
            eprintln!("cardvault-admin: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(cli: Cli) -> Result<Value> {
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let store = Store::new(dynamo.clone(), &cli.table);
    match cli.command {
        Command::CreateTable { template } => {
            let created = table::create_from_template(&dynamo, &cli.table, &template).await?;
            Ok(json!({ "table": cli.table, "created": created }))
        }
        Command::PutSecret { id, value } => {
            put_secret(&aws_sdk_secretsmanager::Client::new(&aws), &id, value).await?;
            Ok(json!({ "secretId": id }))
        }
        Command::CreateTenant { id, name, currency } => {
            let tenant = Tenant {
                id: TenantId::try_from(id)?,
                name,
                public_api_key: None,
                allowed_origins: vec![],
                stripe: None,
                recaptcha_secret_id: None,
                stripe_publishable_key: None,
                require_avs: false,
                require_risk_fields: false,
                currency: currency.to_ascii_lowercase(),
                created_at: now(),
            };
            store.create_tenant(&tenant).await?;
            Ok(serde_json::to_value(&tenant)?)
        }
        Command::ShowTenant { tenant } => {
            let t = load(&store, &tenant).await?;
            let keys = store.list_api_keys(&t.id).await?;
            let keys: Vec<Value> = keys
                .iter()
                .map(|k| json!({"keyId": k.key_id, "createdAt": k.created_at.to_string(), "revoked": !k.is_active()}))
                .collect();
            Ok(json!({ "tenant": t, "apiKeys": keys }))
        }
        Command::IssueKey { tenant } => {
            let t = load(&store, &tenant).await?;
            let key = ApiKey::generate();
            let record = ApiKeyRecord {
                hash: key.hash(),
                key_id: random_token("key_", 12),
                tenant_id: t.id,
                created_at: now(),
                revoked_at: None,
            };
            store.create_api_key(&record).await?;
            Ok(json!({ "keyId": record.key_id, "privateApiKey": key.reveal() }))
        }
        Command::RevokeKey { tenant, key_id } => {
            let t = load(&store, &tenant).await?;
            store.revoke_api_key(&t.id, &key_id).await?;
            Ok(json!({ "keyId": key_id, "revoked": true }))
        }
        Command::SetPublicKey { tenant, key } => {
            let key = key.unwrap_or_else(|| random_token("pk_", 24));
            update(&store, &tenant, |t| {
                t.public_api_key = Some(key);
                Ok(())
            })
            .await
        }
        Command::SetOrigins { tenant, origins } => {
            for o in &origins {
                check_origin(o)?;
            }
            update(&store, &tenant, |t| {
                t.allowed_origins = origins;
                Ok(())
            })
            .await
        }
        Command::SetStripe {
            tenant,
            account,
            secret_id,
            publishable_key,
        } => {
            let connection = match (account, secret_id) {
                (Some(acct), _) => StripeConnection::parse_account_id(&acct)?,
                (None, Some(secret_id)) => StripeConnection::OwnKey { secret_id },
                (None, None) => return Err("give --account or --secret-id".into()),
            };
            update(&store, &tenant, |t| {
                t.stripe = Some(connection);
                t.stripe_publishable_key = publishable_key;
                Ok(())
            })
            .await
        }
        Command::SetRedirectSettings {
            tenant,
            require_avs,
            require_risk_fields,
        } => {
            update(&store, &tenant, |t| {
                t.require_avs = require_avs;
                t.require_risk_fields = require_risk_fields;
                Ok(())
            })
            .await
        }
        Command::RotateVaultKey { secret_id } => {
            let client = aws_sdk_secretsmanager::Client::new(&aws);
            let current = client.get_secret_value().secret_id(&secret_id).send().await;
            let mut keys: Value = match current {
                Ok(out) => serde_json::from_str(out.secret_string().unwrap_or("{}"))?,
                Err(_) => json!({"keys": {}, "fingerprintKey": cardvault::crypto::generate_key()}),
            };
            if keys["fingerprintKey"].is_null() {
                keys["fingerprintKey"] = json!(cardvault::crypto::generate_key());
            }
            let count = keys["keys"].as_object().map_or(0, |k| k.len());
            let id = format!("k{}", count + 1);
            keys["keys"][&id] = json!(cardvault::crypto::generate_key());
            keys["current"] = json!(id);
            put_secret(&client, &secret_id, keys.to_string()).await?;
            Ok(json!({ "secretId": secret_id, "current": id }))
        }
        Command::MintJwt {
            tenant,
            sub,
            account,
            role,
            ttl_secs,
            issuer,
            audience,
            secret,
            platform_secret_id,
        } => {
            let secret = match secret {
                Some(s) => s,
                None => platform_jwt_secret(&aws, &platform_secret_id).await?,
            };
            mint_jwt(MintArgs {
                tenant,
                sub,
                account,
                role,
                ttl_secs,
                issuer,
                audience,
                secret,
            })
        }
        Command::SetRecaptchaSecret { tenant, secret_id } => {
            update(&store, &tenant, |t| {
                t.recaptcha_secret_id = Some(secret_id);
                Ok(())
            })
            .await
        }
    }
}

async fn load(store: &Store, id: &str) -> Result<Tenant> {
    let id = TenantId::try_from(id.to_owned())?;
    store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| format!("no tenant {id}").into())
}

async fn update(
    store: &Store,
    id: &str,
    change: impl FnOnce(&mut Tenant) -> Result<()>,
) -> Result<Value> {
    let old = load(store, id).await?;
    let mut tenant = old.clone();
    change(&mut tenant)?;
    store.save_tenant(&tenant, &old).await?;
    Ok(serde_json::to_value(&tenant)?)
}

/// An origin is scheme://host[:port], nothing more: it is compared verbatim with `Origin`.
fn check_origin(o: &str) -> Result<()> {
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or_else(|| format!("origin {o:?} must start with https:// or http://"))?;
    if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
        return Err(format!("origin {o:?} must be scheme://host[:port] with no path").into());
    }
    Ok(())
}

async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    value: String,
) -> Result<()> {
    let created = client
        .create_secret()
        .name(id)
        .secret_string(value.clone())
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await?;
            Ok(())
        }
        Err(e) => Err(aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            .to_string()
            .into()),
    }
}

struct MintArgs {
    tenant: String,
    sub: String,
    account: Option<String>,
    role: Option<String>,
    ttl_secs: u64,
    issuer: String,
    audience: String,
    secret: String,
}

/// An HS256 token the functions accept (shared/src/auth/jwt.rs verifies it).
fn mint_jwt(a: MintArgs) -> Result<Value> {
    use cardvault::auth::jwt::{mint_hs256, JwtConfig, Mint, Role};
    use cardvault::secret::SecretString;
    if a.secret.is_empty() {
        return Err("the JWT secret is empty".into());
    }
    let tenant = TenantId::try_from(a.tenant)?;
    let role = match a.role.as_deref() {
        Some(r) => Some(Role::parse(r).ok_or("--role must be owner, admin or user")?),
        None => None,
    };
    let config = JwtConfig {
        issuer: a.issuer,
        audience: a.audience,
        ..JwtConfig::from_env()
    };
    let ttl = std::time::Duration::from_secs(a.ttl_secs);
    let token = mint_hs256(
        &config,
        &SecretString::from(a.secret),
        &Mint {
            tenant: &tenant,
            sub: &a.sub,
            account: a.account.as_deref(),
            role,
            ttl,
        },
    )?;
    let expires = now() + ttl;
    Ok(json!({
        "token": token,
        "tenant": tenant,
        "sub": a.sub,
        "account": a.account,
        "role": role.map(|r| r.as_str()),
        "issuer": config.issuer,
        "audience": config.audience,
        "expiresAt": expires.unix_timestamp(),
    }))
}

async fn platform_jwt_secret(aws: &aws_config::SdkConfig, id: &str) -> Result<String> {
    let out = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
    let platform: Value = serde_json::from_str(out.secret_string().unwrap_or("{}"))?;
    platform["jwtSecret"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{id} has no jwtSecret; set one or pass --secret").into())
}
