//! cardvault-admin: the operator's CLI. Every command prints JSON, so scripts can drive it.
//! Endpoints and credentials come from the standard AWS variables (`AWS_ENDPOINT_URL_*`).

mod audit;
mod connect;
mod identity;
mod jwt;
mod keys;
mod rehome;
mod secrets;
mod table;
mod tenants;
mod vault;
mod vault_keys;
mod webhooks;

use aws_config::BehaviorVersion;
use cardvault::domain::{Actor, AuditAction};
use cardvault_aws::kms::KmsChainKey;
use cardvault_aws::store::Store;
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
        /// The value; `-` reads it from standard input.
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
    /// Register a Stripe connected account as a re-homing target of the tenant, proven by
    /// Stripe Connect's OAuth: exchanges the authorization code the tenant obtained (its
    /// consent in Stripe) for the account Stripe names. `rehome-cards --to` takes only an
    /// account registered so. Refused for an account another tenant holds or registered.
    ConnectAccount {
        #[arg(long)]
        tenant: String,
        /// The code Stripe's OAuth redirect gave the tenant (`ac_…`).
        #[arg(long)]
        oauth_code: String,
        #[arg(long, env = "STRIPE_PLATFORM_SECRET_ID", default_value = cardvault::config::DEFAULT_STRIPE_PLATFORM_SECRET_ID)]
        platform_secret_id: String,
        /// Stripe Connect's OAuth base (its `/oauth/token`).
        #[arg(
            long,
            env = "STRIPE_CONNECT_BASE",
            default_value = "https://connect.stripe.com"
        )]
        connect_base: String,
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
    /// Let the transparent redirect read the card number, CVV and reCAPTCHA token from the
    /// query string, as the document's sample request sends them (`--on`); off by default.
    SetLegacyQueryStringCards {
        #[arg(long)]
        tenant: String,
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
    },
    /// How the transparent redirect takes a card: `server` (the card number, as the
    /// document posts it; the default) or `stripe-js` (only a PaymentMethod id made in the
    /// browser with Stripe.js; a posted number is refused).
    SetCardFlow {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        flow: String,
    },
    /// Override the transparent redirect's card-testing limits (README, "Card-testing
    /// limits"); a limit not given keeps its current value, `--reset` returns to the defaults.
    SetVelocity {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        window_secs: Option<u32>,
        #[arg(long)]
        per_ip: Option<u32>,
        #[arg(long)]
        per_public_key: Option<u32>,
        #[arg(long)]
        per_customer: Option<u32>,
        /// Declines in a window that lock a customer's redirect until it ends.
        #[arg(long)]
        declines: Option<u32>,
        #[arg(long)]
        reset: bool,
    },
    /// Create the vault's KMS key (symmetric, rotated yearly by KMS) under an alias, or
    /// show the existing one. A deployment gets it from template.yaml instead.
    CreateVaultKey {
        #[arg(long, env = "VAULT_KMS_KEY_ID", default_value = cardvault::config::DEFAULT_VAULT_KMS_KEY_ID)]
        alias: String,
    },
    /// Create the audit chain's KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC) under an
    /// alias, or show the existing one. A deployment gets it from template.yaml instead.
    CreateAuditKey {
        #[arg(long, env = "AUDIT_KMS_KEY_ID", default_value = cardvault::config::DEFAULT_AUDIT_KMS_KEY_ID)]
        alias: String,
    },
    /// Add a fingerprint key version and make it current. Older versions stay, so cards
    /// stored before are still found as duplicates.
    RotateFingerprintKey {
        #[arg(long)]
        secret_id: String,
    },
    /// Add a cursor-signing key version and make it current.
    RotateCursorKey {
        #[arg(long)]
        secret_id: String,
    },
    /// Re-seal every PAN stored in the pre-KMS format under a KMS data key, and carry the
    /// legacy fingerprint key into the fingerprint ring. Safe to run again.
    MigratePans {
        #[arg(long)]
        legacy_secret_id: String,
        /// Named, never defaulted: a wrong ring would hold the legacy key where no function
        /// reads it, and duplicates would silently go unfound.
        #[arg(long)]
        fingerprint_secret_id: String,
        /// The vault's KMS key (the stack's `VaultKeyArn`), named for the same reason.
        #[arg(long)]
        kms_key_id: String,
        /// Count what would be migrated; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Give cards written before the StripeRefs index existed its keys, so that Stripe's
    /// webhooks find them. Safe to run again.
    BackfillStripeRefs {
        /// Count what would be indexed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-home the tenant's vault-held cards to a new Stripe connection: invokes the
    /// rehome-cards function batch by batch, then (unless --dry-run or --no-switch, and only
    /// if no card failed) makes the target the tenant's connection. Safe to run again.
    RehomeCards {
        #[arg(long)]
        tenant: String,
        /// A connected account (acct_…), used with the platform key.
        #[arg(
            long,
            conflicts_with = "to_secret_id",
            required_unless_present = "to_secret_id"
        )]
        to: Option<String>,
        /// The tenant's own new key, in Secrets Manager under cardvault/tenant/<id>/.
        #[arg(long)]
        to_secret_id: Option<String>,
        /// With --to-secret-id: the new account's publishable key, for /card/getStripe.
        #[arg(long, requires = "to_secret_id")]
        publishable_key: Option<String>,
        /// Count what would move; decrypt, create and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The function to invoke: its name, or the stack's RehomeCardsFunctionName.
        #[arg(long, env = "REHOME_FUNCTION", default_value = "rehome-cards")]
        function: String,
        /// Resume from a cursor an earlier run printed.
        #[arg(long)]
        cursor: Option<String>,
        /// Cards moved per invocation at most (default: as many as its time allows).
        #[arg(long)]
        max_cards: Option<usize>,
        /// Stop after this many invocations (resume with the printed cursor).
        #[arg(long)]
        max_batches: Option<usize>,
        /// Move the cards but leave the tenant's connection as it is.
        #[arg(long)]
        no_switch: bool,
    },
    /// Print a GetCallerIdentity request signed with this CLI's AWS credentials, unsent:
    /// the `caller` of `--payload` for the re-homing function, when it is invoked by hand
    /// (rehome-cards signs its own). Bound to that payload, and good for 5 minutes.
    CallerIdentity {
        /// The payload (JSON) the caller will go with; its `caller`, if any, is ignored.
        #[arg(long)]
        payload: String,
    },
    /// Mint a bearer JWT for the user and billing card APIs: HS256, signed with the HS256
    /// secret (or --secret), or RS256 with --rsa-der. Claim names follow JWT_*_CLAIM.
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
        /// The HS256 key itself, instead of the HS256 secret's value.
        #[arg(long, env = "CARDVAULT_JWT_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long, env = "JWT_HS256_SECRET_ID", default_value = cardvault::config::DEFAULT_JWT_HS256_SECRET_ID)]
        hs256_secret_id: String,
        /// Sign RS256 with this PKCS#1 DER private key file instead.
        #[arg(long, conflicts_with = "secret")]
        rsa_der: Option<String>,
        /// The key id an RS256 token names (its JWKS entry).
        #[arg(long, default_value = "cardvault-local-1")]
        kid: String,
    },
    /// Trust a token issuer for a tenant: bearer tokens with this `iss`, for this `aud`,
    /// may act for the tenant (and no others do).
    TrustIssuer {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        audience: String,
    },
    /// Stop trusting a token issuer (and audience) for a tenant.
    DistrustIssuer {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        audience: String,
    },
    /// How long the tenant's bearer tokens may live (`exp` − `iat`; a day unless set), and
    /// whether a token without `iat` is taken (then `exp` − now counts). Unset options keep
    /// their value.
    SetTokenPolicy {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        max_lifetime_secs: Option<u64>,
        #[arg(long)]
        allow_missing_iat: Option<bool>,
    },
    /// Use the tenant's own reCAPTCHA secret (a Secrets Manager id) instead of the platform's.
    SetRecaptchaSecret {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        secret_id: String,
    },
    /// Set a Stripe webhook endpoint's signing secret (whsec_…): the platform endpoint's
    /// (`--platform`) or a tenant's own (`--tenant`, for /v1/webhooks/stripe/<tenant>).
    /// Rolling: `--keep-previous` keeps the secrets set already beside the new one; later,
    /// `--remove <old>` drops the old one.
    SetWebhookSecret {
        #[arg(
            long,
            conflicts_with = "platform",
            required_unless_present = "platform"
        )]
        tenant: Option<String>,
        #[arg(long)]
        platform: bool,
        /// The platform endpoint's secret (the stack's StripeWebhookSecretArn).
        #[arg(long, requires = "platform", default_value = cardvault::domain::stripe_event::DEFAULT_PLATFORM_WEBHOOK_SECRET_ID)]
        secret_id: String,
        /// The signing secret Stripe shows for the endpoint (`-`: read it from standard
        /// input); without it a new one is made and printed (for localstripe, which signs
        /// with whatever it is given).
        #[arg(long)]
        secret: Option<String>,
        #[arg(long)]
        keep_previous: bool,
        #[arg(long, conflicts_with_all = ["secret", "keep_previous"])]
        remove: Option<String>,
    },
    /// The audit trail: `audit list`, `audit verify`.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print a tenant's events, oldest first.
    List {
        #[arg(long)]
        tenant: String,
        /// Only events at or after this time (RFC 3339 UTC, or a date: 2026-12-02).
        #[arg(long)]
        since: Option<String>,
        /// Only this customer's events.
        #[arg(long)]
        customer: Option<u64>,
    },
    /// Check a tenant's trail (numbering, links, every MAC and the head's with the chain's
    /// KMS key, pending events against records) and report its first break (exit 2).
    Verify {
        #[arg(long)]
        tenant: String,
        /// The chain's KMS HMAC key (VerifyMac).
        #[arg(long, env = "AUDIT_KMS_KEY_ID", default_value = cardvault::config::DEFAULT_AUDIT_KMS_KEY_ID)]
        key: String,
        /// A pending event older than this many seconds and not chained is a break.
        #[arg(long, default_value_t = 900)]
        stale_after: u64,
    },
}

impl Command {
    /// The audit event an operator's change records: (tenant, action, object). Keys and
    /// tenant settings; reads, secrets and tooling record nothing.
    fn audited(&self) -> Option<(String, AuditAction, Option<String>)> {
        let setting = |t: &String, name: &str| {
            Some((
                t.clone(),
                AuditAction::TenantSettingsChanged,
                Some(name.to_owned()),
            ))
        };
        match self {
            Command::IssueKey { tenant } => Some((tenant.clone(), AuditAction::KeyCreated, None)),
            Command::RevokeKey { tenant, key_id } => Some((
                tenant.clone(),
                AuditAction::KeyRevoked,
                Some(key_id.clone()),
            )),
            Command::CreateTenant { id, .. } => setting(id, "create-tenant"),
            Command::SetPublicKey { tenant, .. } => setting(tenant, "public-key"),
            Command::SetOrigins { tenant, .. } => setting(tenant, "origins"),
            Command::SetStripe { tenant, .. } => setting(tenant, "stripe"),
            // The account is Stripe's answer: known only once the command has run.
            Command::ConnectAccount { tenant, .. } => {
                Some((tenant.clone(), AuditAction::RehomeTargetRegistered, None))
            }
            Command::SetRedirectSettings { tenant, .. } => setting(tenant, "redirect-settings"),
            Command::SetLegacyQueryStringCards { tenant, .. } => {
                setting(tenant, "legacy-query-string-cards")
            }
            Command::SetVelocity { tenant, .. } => setting(tenant, "velocity"),
            Command::SetCardFlow { tenant, .. } => setting(tenant, "card-flow"),
            Command::TrustIssuer { tenant, .. } => setting(tenant, "trust-issuer"),
            Command::DistrustIssuer { tenant, .. } => setting(tenant, "distrust-issuer"),
            Command::SetTokenPolicy { tenant, .. } => setting(tenant, "token-policy"),
            Command::SetRecaptchaSecret { tenant, .. } => setting(tenant, "recaptcha-secret"),
            Command::SetWebhookSecret {
                tenant: Some(tenant),
                ..
            } => setting(tenant, "webhook-secret"),
            _ => None,
        }
    }

    /// Whether the command's vault operation records its event itself, in its own write
    /// (`vault::admin`); the rest are recorded here once they have run.
    fn records_itself(&self) -> bool {
        !matches!(self, Command::SetWebhookSecret { .. })
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(out) => {
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            if out.get("ok") == Some(&Value::Bool(false)) {
                std::process::exit(2);
            }
        }
        Err(e) => {
            eprintln!("cardvault-admin: {e}");
            std::process::exit(1);
        }
    }
}

/// One subcommand, by its function in the module of its group.
async fn run(cli: Cli) -> Result<Value> {
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let store = Store::new(dynamo.clone(), &cli.table);
    let audited = cli.command.audited();
    // Who acts is known before anything changes (README, "Operator identity").
    let operator = match audited {
        Some(_) => Some(audit::operator(&aws).await?),
        None => None,
    };
    let audited = audited.filter(|_| !cli.command.records_itself());
    let out = command(
        cli.command,
        &aws,
        &dynamo,
        &store,
        &cli.table,
        operator.as_ref(),
    )
    .await?;
    if let (Some((tenant, action, object)), Some(operator)) = (audited, operator) {
        // A new key's id, a registered account, are known only now.
        let object = object.or_else(|| {
            [&out["keyId"], &out["account"]]
                .into_iter()
                .find_map(|v| v.as_str().map(str::to_owned))
        });
        audit::record(&store, &operator, &tenant, action, object).await?;
    }
    Ok(out)
}

async fn command(
    command: Command,
    aws: &aws_config::SdkConfig,
    dynamo: &aws_sdk_dynamodb::Client,
    store: &Store,
    table: &str,
    operator: Option<&Actor>,
) -> Result<Value> {
    let (aws, store) = (aws.clone(), store.clone());
    let vault = vault::admin_vault(store.clone());
    let cli_table = table.to_owned();
    // Known for every command that changes a tenant (`Command::audited`).
    let operator = || operator.ok_or("the operator's AWS identity is not known");
    match command {
        Command::CreateTable { template } => create_table(dynamo, cli_table, &template).await,
        Command::PutSecret { id, value } => secrets::put(&aws, id, value).await,
        Command::CreateTenant { id, name, currency } => {
            tenants::create(&vault, id, name, currency, operator()?).await
        }
        Command::ShowTenant { tenant } => tenants::show(&vault, &tenant).await,
        Command::IssueKey { tenant } => keys::issue(&vault, &tenant, operator()?).await,
        Command::RevokeKey { tenant, key_id } => {
            keys::revoke(&vault, &tenant, key_id, operator()?).await
        }
        Command::SetPublicKey { tenant, key } => {
            tenants::set_public_key(&vault, &tenant, key, operator()?).await
        }
        Command::SetOrigins { tenant, origins } => {
            tenants::set_origins(&vault, &tenant, origins, operator()?).await
        }
        Command::SetStripe {
            tenant,
            account,
            secret_id,
            publishable_key,
        } => {
            let setting = tenants::stripe_setting(account, secret_id, publishable_key)?;
            tenants::set_stripe(&vault, &tenant, setting, operator()?).await
        }
        Command::ConnectAccount {
            tenant,
            oauth_code,
            platform_secret_id,
            connect_base,
        } => {
            let args = connect::ConnectArgs {
                tenant,
                oauth_code,
                platform_secret_id,
                connect_base,
            };
            connect::connect_account(&aws, &vault, args, operator()?).await
        }
        Command::SetRedirectSettings {
            tenant,
            require_avs,
            require_risk_fields,
        } => {
            let op = operator()?;
            tenants::set_redirect_settings(&vault, &tenant, require_avs, require_risk_fields, op)
                .await
        }
        Command::SetLegacyQueryStringCards { tenant, on, .. } => {
            tenants::set_legacy_query_string_cards(&vault, &tenant, on, operator()?).await
        }
        Command::SetCardFlow { tenant, flow } => {
            tenants::set_card_flow(&vault, &tenant, &flow, operator()?).await
        }
        Command::SetVelocity {
            tenant,
            window_secs,
            per_ip,
            per_public_key,
            per_customer,
            declines,
            reset,
        } => {
            let limits = cardvault::domain::VelocityLimits {
                window_secs,
                per_ip,
                per_public_key,
                per_customer,
                declines,
            };
            tenants::set_velocity(&vault, &tenant, limits, reset, operator()?).await
        }
        Command::CreateVaultKey { alias } => vault_keys::create_kms_key(&aws, alias).await,
        Command::CreateAuditKey { alias } => vault_keys::create_audit_key(&aws, alias).await,
        Command::RotateFingerprintKey { secret_id } | Command::RotateCursorKey { secret_id } => {
            vault_keys::rotate_ring(&aws, secret_id).await
        }
        Command::MigratePans {
            legacy_secret_id,
            fingerprint_secret_id,
            kms_key_id,
            dry_run,
        } => {
            let args = vault_keys::MigrateArgs {
                legacy_secret_id,
                fingerprint_secret_id,
                kms_key_id,
                dry_run,
            };
            vault_keys::migrate_pans(&aws, &cli_table, args).await
        }
        Command::BackfillStripeRefs { dry_run } => {
            let done = store.backfill_stripe_refs(dry_run).await?;
            let mut out = serde_json::to_value(&done)?;
            out["dryRun"] = json!(dry_run);
            Ok(out)
        }
        Command::RehomeCards {
            tenant,
            to,
            to_secret_id,
            publishable_key,
            dry_run,
            function,
            cursor,
            max_cards,
            max_batches,
            no_switch,
        } => {
            let args = rehome::RehomeArgs {
                tenant,
                to,
                to_secret_id,
                publishable_key,
                dry_run,
                function,
                cursor,
                max_cards,
                max_batches,
                no_switch,
            };
            rehome::rehome_cards(&aws, &vault, args).await
        }
        Command::CallerIdentity { payload } => {
            let payload: Value = serde_json::from_str(&payload)?;
            identity::signed_caller_identity(&aws, &payload).await
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
            hs256_secret_id,
            rsa_der,
            kid,
        } => {
            let args = jwt::MintArgs {
                tenant,
                sub,
                account,
                role,
                ttl_secs,
                issuer,
                audience,
                secret,
                hs256_secret_id,
                rsa_der,
                kid,
            };
            jwt::mint(&aws, args).await
        }
        Command::TrustIssuer {
            tenant,
            issuer,
            audience,
        } => tenants::trust_issuer(&vault, &tenant, issuer, audience, true, operator()?).await,
        Command::DistrustIssuer {
            tenant,
            issuer,
            audience,
        } => tenants::trust_issuer(&vault, &tenant, issuer, audience, false, operator()?).await,
        Command::SetTokenPolicy {
            tenant,
            max_lifetime_secs,
            allow_missing_iat,
        } => {
            let change = cardvault::vault::admin::TokenPolicyChange {
                max_lifetime_secs,
                allow_missing_iat,
            };
            tenants::set_token_policy(&vault, &tenant, change, operator()?).await
        }
        Command::SetRecaptchaSecret { tenant, secret_id } => {
            tenants::set_recaptcha_secret(&vault, &tenant, secret_id, operator()?).await
        }
        Command::SetWebhookSecret {
            tenant,
            secret_id,
            secret,
            keep_previous,
            remove,
            ..
        } => {
            let endpoint = match tenant {
                Some(t) => webhooks::Endpoint::Tenant(t),
                None => webhooks::Endpoint::Platform { secret_id },
            };
            let change = match remove {
                Some(old) => webhooks::Change::Remove(secrets::given(old)?),
                None => webhooks::Change::Set {
                    secret: secret.map(secrets::given).transpose()?,
                    keep_previous,
                },
            };
            webhooks::set_secret(&aws, endpoint, change).await
        }
        Command::Audit(AuditCommand::List {
            tenant,
            since,
            customer,
        }) => audit::list(&store, &tenant, since, customer).await,
        Command::Audit(AuditCommand::Verify {
            tenant,
            key,
            stale_after,
        }) => {
            let key = KmsChainKey::new(aws_sdk_kms::Client::new(&aws), key);
            audit::verify(&store, &key, &tenant, stale_after).await
        }
    }
}

/// From template.yaml's own table definition; a no-op if the table exists.
async fn create_table(
    dynamo: &aws_sdk_dynamodb::Client,
    table: String,
    template: &str,
) -> Result<Value> {
    let created = table::create_from_template(dynamo, &table, template).await?;
    Ok(json!({ "table": table, "created": created }))
}
