//! Stripe in memory: customers, tokens, attached cards, PaymentIntents, idempotency keys
//! that replay the first answer, and Stripe's error objects. Card numbers decide outcomes
//! as Stripe's test cards do: `4000000000000002` is declined at the attach, and
//! `4000000000000341` attaches but declines every charge.
//!
//! Calls can be made slow ([`MemoryGateway::latency`]); within a request's [`Deadline`] a
//! slow call is cut where the real client would cut it. Run such tests with tokio's clock
//! paused, so that no real time passes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::domain::{CardNumber, Deadline, Expiry, OutOfTime, SourceCard, StripeToken};
use crate::ports::{
    BankAccount, Card, CardDetails, CardOnFile, CreatedCustomer, NewCard, PaymentGateway,
    PaymentIntent, SetupIntent, Source, StripeAuth, StripeError,
};

pub const DECLINED_AT_ATTACH: &str = "4000000000000002";
/// Stripe's test card whose issuer asks for 3-D Secure when it is set up (and, once set up
/// for off-session use, never again).
pub const AUTHENTICATES: &str = "4000002500003155";
pub const DECLINES_CHARGES: &str = "4000000000000341";
/// A CVC the issuer says is wrong: the card attaches with `cvc_check: fail`, as Stripe's
/// do when no Radar rule declines them. Any other passes.
pub const CVC_FAILS: &str = "000";

/// A card a test seeds at Stripe (for imports and user-API tokens).
#[derive(Clone, Debug, Default)]
pub struct FakeCard {
    pub brand: &'static str,
    pub last4: &'static str,
    pub exp_month: u8,
    pub exp_year: u16,
    pub name: Option<&'static str>,
    pub declines_charges: bool,
}

#[derive(Default)]
struct Customer {
    deleted: bool,
    sources: Vec<Source>,
    default_source: Option<String>,
}

#[derive(Default)]
struct State {
    next: u64,
    customers: HashMap<String, Customer>,
    /// Unused tokens, and the card each becomes.
    tokens: HashMap<String, (Card, bool)>,
    used_tokens: Vec<String>,
    declining: Vec<String>,
    /// Idempotency key → the id the first request made.
    replies: HashMap<String, String>,
    intents: HashMap<String, PaymentIntent>,
    calls: Vec<String>,
    /// The credentials of every call, in order.
    credentials: Vec<Credentials>,
    failing: HashMap<&'static str, FailWith>,
    /// Every token made, and the id of its card.
    minted: HashMap<String, String>,
    latency: HashMap<&'static str, Duration>,
    /// The `Stripe-Account` each customer and card on file was made under (`None`: the
    /// key's own account), as Stripe keeps connected accounts apart.
    accounts: HashMap<String, Option<String>>,
    /// The status of every later PaymentIntent (`None`: `succeeded`).
    intent_status: Option<&'static str>,
    /// PaymentMethods made and not yet attached, and whether each asks for 3-D Secure.
    payment_methods: HashMap<String, (Card, bool)>,
    setup_intents: HashMap<String, SetupIntent>,
    /// Tokens whose card asks for 3-D Secure when it is set up (as [`AUTHENTICATES`]).
    authenticating: Vec<String>,
}

/// The credentials one call was made with: Stripe answers by them (localstripe takes
/// any), so a test asserts them here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The port method called.
    pub op: &'static str,
    /// The secret key (`Authorization: Bearer`).
    pub key: String,
    /// `Stripe-Account`, for a Connect call.
    pub account: Option<String>,
}

#[derive(Clone, Copy, Debug)]
pub enum FailWith {
    /// No answer (timeouts, 5xx after every retry).
    Unavailable,
    /// A 4xx error object.
    Api(u16),
}

#[derive(Default)]
pub struct MemoryGateway {
    state: Mutex<State>,
}

fn not_found(what: &str, id: &str) -> StripeError {
    StripeError::Api {
        status: 404,
        kind: "invalid_request_error".into(),
        code: Some("resource_missing".into()),
        param: Some("id".into()),
        message: format!("No such {what}: '{id}'"),
    }
}

fn declined(message: &str) -> StripeError {
    StripeError::Api {
        status: 402,
        kind: "card_error".into(),
        code: Some("card_declined".into()),
        param: None,
        message: message.into(),
    }
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_mem{}", self.next)
    }

    fn call(
        &mut self,
        op: &'static str,
        auth: &StripeAuth,
        detail: String,
    ) -> Result<(), StripeError> {
        self.calls
            .push(format!("{op} {detail}").trim_end().to_owned());
        self.credentials.push(Credentials {
            op,
            key: auth.key.expose_secret().to_owned(),
            account: auth.account.clone(),
        });
        match self.failing.get(op) {
            None => Ok(()),
            Some(FailWith::Unavailable) => Err(StripeError::Unavailable("injected".into())),
            Some(FailWith::Api(status)) => Err(StripeError::Api {
                status: *status,
                kind: "invalid_request_error".into(),
                code: None,
                param: None,
                message: format!("injected {status}"),
            }),
        }
    }

    fn customer(&mut self, id: &str) -> Result<&mut Customer, StripeError> {
        self.customers
            .get_mut(id)
            .filter(|c| !c.deleted)
            .ok_or_else(|| not_found("customer", id))
    }

    fn token_card(&mut self, token: &str) -> Result<(Card, bool), StripeError> {
        if self.used_tokens.iter().any(|t| t == token) {
            return Err(StripeError::Api {
                status: 400,
                kind: "invalid_request_error".into(),
                code: Some("token_already_used".into()),
                param: None,
                message: "You cannot use a Stripe token more than once.".into(),
            });
        }
        let card = self
            .tokens
            .remove(token)
            .ok_or_else(|| not_found("token", token))?;
        self.used_tokens.push(token.to_owned());
        Ok(card)
    }

    /// A card Stripe was given in full (a token, a PaymentMethod, a card on file): the
    /// number's brand, last four and fingerprint, the expiry, and the holder's name and
    /// address as given (Stripe keeps them: its AVS checks read them). `address`: line 1,
    /// line 2, city, postal code, country.
    fn card_given(
        &mut self,
        number: &CardNumber,
        expiry: Expiry,
        name: &str,
        address: [Option<&str>; 5],
    ) -> Card {
        let fake = FakeCard {
            brand: number.brand().as_str(),
            last4: "0000",
            exp_month: expiry.month,
            exp_year: expiry.year,
            ..FakeCard::default()
        };
        let mut c = self.new_card(&fake);
        c.last4 = Some(number.last4());
        c.fingerprint = Some(fingerprint_of(number.expose()));
        c.name = Some(name.to_owned()).filter(|n| !n.is_empty());
        let [line1, line2, city, zip, country] = address.map(|a| a.map(str::to_owned));
        (c.address_line1, c.address_line2, c.address_city) = (line1, line2, city);
        (c.address_zip, c.address_country) = (zip, country);
        c
    }

    fn new_card(&mut self, fake: &FakeCard) -> Card {
        Card {
            id: self.id("card"),
            brand: Some(fake.brand.into()),
            last4: Some(fake.last4.into()),
            exp_month: Some(fake.exp_month),
            exp_year: Some(fake.exp_year),
            name: fake.name.map(str::to_owned),
            fingerprint: Some(format!("fp{}", fake.last4)),
            ..Card::default()
        }
    }
}

impl MemoryGateway {
    /// A Stripe customer holding `card` (for imports): answers (customer id, card id).
    pub fn seed_customer_with_card(&self, card: FakeCard) -> (String, String) {
        let mut s = self.state.lock().unwrap();
        let cus = s.id("cus");
        let mut c = s.new_card(&card);
        c.customer = Some(cus.clone());
        let id = c.id.clone();
        s.customers.insert(
            cus.clone(),
            Customer {
                sources: vec![Source::Card(c)],
                default_source: Some(id.clone()),
                ..Customer::default()
            },
        );
        (cus, id)
    }

    /// A bank account on a new Stripe customer: answers (customer id, bank account id).
    pub fn seed_customer_with_bank_account(&self, last4: &str) -> (String, String) {
        let mut s = self.state.lock().unwrap();
        let cus = s.id("cus");
        let id = s.id("ba");
        let ba = BankAccount {
            id: id.clone(),
            customer: Some(cus.clone()),
            bank_name: Some("STRIPE TEST BANK".into()),
            last4: Some(last4.into()),
            routing_number: Some("110000000".into()),
            account_holder_name: Some("Jenny Rosen".into()),
            ..BankAccount::default()
        };
        s.customers.insert(
            cus.clone(),
            Customer {
                sources: vec![Source::BankAccount(ba)],
                ..Customer::default()
            },
        );
        (cus, id)
    }

    /// A single-use card token, as Stripe.js would make it.
    pub fn seed_token(&self, card: FakeCard) -> StripeToken {
        let mut s = self.state.lock().unwrap();
        let tok = s.id("tok");
        let c = s.new_card(&card);
        s.minted.insert(tok.clone(), c.id.clone());
        s.tokens.insert(tok.clone(), (c, card.declines_charges));
        StripeToken::parse(&tok).expect("a valid token id")
    }

    /// A single-use card token whose issuer asks for 3-D Secure when the card is set up
    /// (Stripe.js's token of [`AUTHENTICATES`]).
    pub fn seed_token_authenticating(&self, card: FakeCard) -> StripeToken {
        let token = self.seed_token(card);
        let mut s = self.state.lock().unwrap();
        s.authenticating.push(token.reveal().to_owned());
        token
    }

    /// A PaymentMethod as Stripe.js makes it in the browser (not attached); `authenticates`:
    /// its issuer asks for 3-D Secure when it is set up.
    pub fn seed_payment_method(&self, card: FakeCard, authenticates: bool) -> String {
        let mut s = self.state.lock().unwrap();
        let mut c = s.new_card(&card);
        c.id = s.id("pm");
        let id = c.id.clone();
        if card.declines_charges {
            s.declining.push(format!("charges:{id}"));
        }
        s.payment_methods.insert(id.clone(), (c, authenticates));
        id
    }

    /// Makes every later call of `op` (a port method's name) fail so.
    pub fn fail(&self, op: &'static str, with: FailWith) {
        self.state.lock().unwrap().failing.insert(op, with);
    }

    pub fn heal(&self, op: &'static str) {
        self.state.lock().unwrap().failing.remove(op);
    }

    /// Makes every later collection's PaymentIntent answer with `status` (e.g.
    /// `requires_action`, a card that wants 3-D Secure) rather than `succeeded`.
    pub fn intent_status(&self, status: &'static str) {
        self.state.lock().unwrap().intent_status = Some(status);
    }

    /// Makes every later call of `op` take `time` to answer.
    pub fn latency(&self, op: &'static str, time: Duration) {
        self.state.lock().unwrap().latency.insert(op, time);
    }

    /// Lets the call's latency pass, as far as the request's deadline allows, as the real
    /// client's retry loop would (`domain::deadline`). `Err`: the deadline left no room to
    /// send it. `Ok(true)`: sent, but the wait for its answer was cut. Only `attach_source`
    /// takes effect at Stripe before such a cut (the case compensation is for); the other
    /// calls are cut before Stripe acts.
    async fn elapse(&self, op: &'static str) -> Result<bool, StripeError> {
        let latency = self.state.lock().unwrap().latency.get(op).copied();
        let latency = latency.unwrap_or_default();
        let allowed = match Deadline::current() {
            None => latency,
            Some(d) => d.attempt_timeout(Duration::MAX).ok_or_else(|| {
                StripeError::OutOfTime(OutOfTime {
                    waiting_for: format!("Stripe ({op})"),
                    sent: false,
                })
            })?,
        };
        tokio::time::sleep(latency.min(allowed)).await;
        Ok(latency > allowed)
    }

    /// A customer with no card, once per idempotency key, under the call's account (a cut
    /// deadline, as the real client's, leaves nothing made).
    async fn new_customer(
        &self,
        op: &'static str,
        auth: &StripeAuth,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        if self.elapse(op).await? {
            return Err(cut(op));
        }
        let mut s = self.state.lock().unwrap();
        s.call(op, auth, idempotency_key.to_owned())?;
        if let Some(id) = s.replies.get(idempotency_key) {
            return Ok(id.clone());
        }
        let id = s.id("cus");
        s.customers.insert(id.clone(), Customer::default());
        s.replies.insert(idempotency_key.to_owned(), id.clone());
        s.accounts.insert(id.clone(), auth.account.clone());
        Ok(id)
    }

    /// Every call so far, as `op detail`, and forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().calls)
    }

    /// The credentials of every call so far, in order, and forgets them.
    pub fn take_credentials(&self) -> Vec<Credentials> {
        std::mem::take(&mut self.state.lock().unwrap().credentials)
    }

    /// The ids of the sources attached to a customer now.
    pub fn sources_of(&self, customer: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.customers
            .get(customer)
            .map(|c| {
                c.sources
                    .iter()
                    .map(|src| source_id(src).to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn default_source_of(&self, customer: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.customers
            .get(customer)
            .and_then(|c| c.default_source.clone())
    }

    /// Customers that exist and are not deleted.
    pub fn live_customers(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.customers.values().filter(|c| !c.deleted).count()
    }

    pub fn intents(&self) -> usize {
        self.state.lock().unwrap().intents.len()
    }

    /// The connected account a customer or card on file was made under.
    pub fn account_of(&self, id: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.accounts.get(id).cloned().flatten()
    }

    /// A card on a customer, as Stripe holds it.
    pub fn card_of(&self, customer: &str, card: &str) -> Option<Card> {
        let s = self.state.lock().unwrap();
        s.customers
            .get(customer)?
            .sources
            .iter()
            .find_map(|src| match src {
                Source::Card(c) if c.id == card => Some(c.clone()),
                _ => None,
            })
    }

    /// Forgets every idempotency key, as Stripe does after 24 hours (and as localstripe
    /// never keeps them).
    pub fn forget_idempotency_keys(&self) {
        self.state.lock().unwrap().replies.clear();
    }

    /// Finishes a SetupIntent's 3-D Secure as the cardholder's browser would: on success the
    /// PaymentMethod is attached to the SetupIntent's customer.
    pub fn authenticate_setup(&self, setup_intent: &str, success: bool) {
        let mut s = self.state.lock().unwrap();
        let Some(mut si) = s.setup_intents.get(setup_intent).cloned() else {
            panic!("no SetupIntent {setup_intent}")
        };
        assert_eq!(si.status, "requires_action");
        si.next_action = None;
        if success {
            si.status = "succeeded".into();
            let pm = si
                .payment_method
                .clone()
                .expect("a SetupIntent with its card");
            let customer = si.customer.clone().expect("a SetupIntent for a customer");
            if let Some((mut card, _)) = s.payment_methods.remove(&pm) {
                card.customer = Some(customer.clone());
                if let Ok(c) = s.customer(&customer) {
                    c.sources.push(Source::Card(card));
                }
            }
        } else {
            si.status = "requires_payment_method".into();
            si.payment_method = None;
        }
        s.setup_intents.insert(si.id.clone(), si);
    }

    /// A SetupIntent as Stripe holds it now.
    pub fn setup_intent(&self, id: &str) -> Option<SetupIntent> {
        self.state.lock().unwrap().setup_intents.get(id).cloned()
    }

    /// Someone holding the client secret confirms the SetupIntent with another card of
    /// theirs (Stripe allows it), and it succeeds: that card is attached to the customer.
    pub fn confirm_setup_with_another_card(&self, setup_intent: &str, card: FakeCard) -> String {
        let mut s = self.state.lock().unwrap();
        let mut other = s.new_card(&card);
        other.id = s.id("pm");
        let id = other.id.clone();
        let mut si = s.setup_intents[setup_intent].clone();
        let customer = si.customer.clone().expect("a SetupIntent for a customer");
        other.customer = Some(customer.clone());
        if let Ok(c) = s.customer(&customer) {
            c.sources.push(Source::Card(other));
        }
        si.status = "succeeded".into();
        si.next_action = None;
        si.payment_method = Some(id.clone());
        s.setup_intents.insert(si.id.clone(), si);
        id
    }

    /// Strips every card's metadata (a card someone else added, not the vault).
    pub fn forget_metadata(&self) {
        for c in self.state.lock().unwrap().customers.values_mut() {
            for src in &mut c.sources {
                if let Source::Card(card) = src {
                    card.metadata.clear();
                }
            }
        }
    }
}

/// Stripe's fingerprint names the number, not its last four digits: one number, one
/// fingerprint, whatever token or customer it came in with.
fn fingerprint_of(pan: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(pan.as_bytes())[..8])
}

/// A card's address fields as Stripe takes them, in [`State::card_given`]'s order.
fn address_of<'a>(card: &CardDetails<'a>) -> [Option<&'a str>; 5] {
    [
        card.address_line1,
        card.address_line2,
        card.address_city,
        card.address_zip,
        card.address_country,
    ]
}

/// Sent, but the wait for the answer was cut.
fn cut(op: &str) -> StripeError {
    StripeError::OutOfTime(OutOfTime {
        waiting_for: format!("Stripe ({op})"),
        sent: true,
    })
}

fn source_id(src: &Source) -> &str {
    match src {
        Source::Card(c) => &c.id,
        Source::BankAccount(b) => &b.id,
    }
}

/// The card as Stripe answers it inside its new customer: every field it holds.
fn source_card(card: &Card, customer: &str) -> SourceCard {
    let mut source = SourceCard::from(card);
    source.customer = Some(customer.to_owned());
    source
}

#[async_trait]
impl PaymentGateway for MemoryGateway {
    async fn retrieve_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<Source, StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("retrieve_source", auth, format!("{customer} {source}"))?;
        let c = s.customer(customer)?;
        c.sources
            .iter()
            .find(|src| source_id(src) == source)
            .cloned()
            .ok_or_else(|| not_found("source", source))
    }

    async fn create_vault_customer(
        &self,
        auth: &StripeAuth,
        idempotency_key: &str,
        _vault_customer_id: &str,
    ) -> Result<String, StripeError> {
        self.new_customer("create_vault_customer", auth, idempotency_key)
            .await
    }

    async fn create_customer_with_source(
        &self,
        auth: &StripeAuth,
        token: &StripeToken,
        _metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<CreatedCustomer, StripeError> {
        // Slow on request, so that two requests can be at Stripe at once.
        self.elapse("create_customer_with_source").await?;
        let mut s = self.state.lock().unwrap();
        s.call(
            "create_customer_with_source",
            auth,
            idempotency_key.to_owned(),
        )?;
        if let Some(id) = s.replies.get(idempotency_key).cloned() {
            let c = s.customers.get(&id).expect("replied customers exist");
            let Some(Source::Card(card)) = c.sources.first() else {
                unreachable!("made with a card")
            };
            return Ok(CreatedCustomer {
                source: source_card(card, &id),
                id,
            });
        }
        // The card is attached within the call: a card the issuer refuses fails it, and no
        // customer is made.
        if s.declining.iter().any(|t| t == token.reveal()) {
            return Err(declined("Your card was declined."));
        }
        let (mut card, declines) = s.token_card(token.reveal())?;
        if declines {
            s.declining.push(card.id.clone());
        }
        let id = s.id("cus");
        card.customer = Some(id.clone());
        let source = source_card(&card, &id);
        s.customers.insert(
            id.clone(),
            Customer {
                default_source: Some(card.id.clone()),
                sources: vec![Source::Card(card)],
                ..Customer::default()
            },
        );
        s.replies.insert(idempotency_key.to_owned(), id.clone());
        Ok(CreatedCustomer { id, source })
    }

    async fn delete_customer(&self, auth: &StripeAuth, id: &str) -> Result<(), StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("delete_customer", auth, id.to_owned())?;
        if let Some(c) = s.customers.get_mut(id) {
            c.deleted = true;
        }
        Ok(())
    }

    async fn customer_exists(&self, auth: &StripeAuth, id: &str) -> Result<bool, StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("customer_exists", auth, id.to_owned())?;
        Ok(s.customers.get(id).is_some_and(|c| !c.deleted))
    }

    async fn create_card_token(
        &self,
        auth: &StripeAuth,
        card: &CardDetails<'_>,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        if self.elapse("create_card_token").await? {
            return Err(cut("create_card_token"));
        }
        let mut s = self.state.lock().unwrap();
        s.call("create_card_token", auth, idempotency_key.to_owned())?;
        if let Some(id) = s.replies.get(idempotency_key) {
            return Ok(id.clone());
        }
        let pan = card.number.expose();
        let mut c = s.card_given(card.number, card.expiry, card.name, address_of(card));
        c.cvc_check = Some(
            if card.cvv.expose() == CVC_FAILS {
                "fail"
            } else {
                "pass"
            }
            .into(),
        );
        let tok = s.id("tok");
        if pan == DECLINED_AT_ATTACH {
            s.declining.push(tok.clone());
        }
        s.minted.insert(tok.clone(), c.id.clone());
        s.tokens.insert(tok.clone(), (c, pan == DECLINES_CHARGES));
        s.replies.insert(idempotency_key.to_owned(), tok.clone());
        Ok(tok)
    }

    async fn attach_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        token: &str,
        idempotency_key: &str,
    ) -> Result<Card, StripeError> {
        let cut_short = self.elapse("attach_source").await?;
        let mut s = self.state.lock().unwrap();
        s.call("attach_source", auth, idempotency_key.to_owned())?;
        if let Some(card_id) = s.replies.get(idempotency_key).cloned() {
            let c = s.customer(customer)?;
            if let Some(Source::Card(card)) = c
                .sources
                .iter()
                .find(|src| matches!(src, Source::Card(card) if card.id == card_id))
            {
                return Ok(card.clone());
            }
        }
        s.customer(customer)?;
        if s.declining.iter().any(|t| t == token) {
            return Err(declined("Your card was declined."));
        }
        let (mut card, declines) = s.token_card(token)?;
        card.customer = Some(customer.to_owned());
        if declines {
            s.declining.push(card.id.clone());
        }
        s.replies
            .insert(idempotency_key.to_owned(), card.id.clone());
        let c = s.customer(customer)?;
        c.sources.push(Source::Card(card.clone()));
        // As Stripe: a customer's first source becomes its default.
        if c.default_source.is_none() {
            c.default_source = Some(card.id.clone());
        }
        if cut_short {
            return Err(cut("attach_source"));
        }
        Ok(card)
    }

    async fn set_default_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("set_default_source", auth, format!("{customer} {source}"))?;
        s.customer(customer)?.default_source = Some(source.to_owned());
        Ok(())
    }

    async fn detach_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError> {
        if self.elapse("detach_source").await? {
            return Err(cut("detach_source"));
        }
        let mut s = self.state.lock().unwrap();
        s.call("detach_source", auth, format!("{customer} {source}"))?;
        let c = s.customer(customer)?;
        let before = c.sources.len();
        c.sources.retain(|src| source_id(src) != source);
        if c.sources.len() == before {
            return Err(not_found("source", source));
        }
        if c.default_source.as_deref() == Some(source) {
            c.default_source = None;
        }
        Ok(())
    }

    async fn collect(
        &self,
        auth: &StripeAuth,
        _amount_minor: u64,
        _currency: &str,
        customer: &str,
        card: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("collect", auth, idempotency_key.to_owned())?;
        if let Some(pi) = s.replies.get(idempotency_key).cloned() {
            let intent = &s.intents[&pi];
            return Ok(PaymentIntent {
                id: intent.id.clone(),
                status: intent.status.clone(),
                client_secret: intent.client_secret.clone(),
                next_action: intent.next_action.clone(),
            });
        }
        // A card not on the customer (detached, so deleted at Stripe) names no payment
        // method.
        let on_customer = s
            .customer(customer)?
            .sources
            .iter()
            .any(|src| source_id(src) == card);
        if !on_customer {
            return Err(not_found("PaymentMethod", card));
        }
        if s.declining.iter().any(|c| c == card) {
            return Err(declined("Your card has insufficient funds."));
        }
        let id = s.id("pi");
        let status = s.intent_status.unwrap_or("succeeded").to_owned();
        let pending = status == "requires_action";
        let intent = PaymentIntent {
            client_secret: pending.then(|| format!("{id}_secret_mem")),
            next_action: pending.then(|| serde_json::json!({"type": "use_stripe_sdk"})),
            id: id.clone(),
            status,
        };
        s.intents.insert(id.clone(), intent);
        s.replies.insert(idempotency_key.to_owned(), id.clone());
        let intent = &s.intents[&id];
        Ok(PaymentIntent {
            id: intent.id.clone(),
            status: intent.status.clone(),
            client_secret: intent.client_secret.clone(),
            next_action: intent.next_action.clone(),
        })
    }

    async fn create_payment_method(
        &self,
        auth: &StripeAuth,
        card: NewCard<'_>,
        idempotency_key: &str,
    ) -> Result<Card, StripeError> {
        self.elapse("create_payment_method").await?;
        let mut s = self.state.lock().unwrap();
        s.call("create_payment_method", auth, idempotency_key.to_owned())?;
        if let Some(id) = s.replies.get(idempotency_key).cloned() {
            if let Some((c, _)) = s.payment_methods.get(&id) {
                return Ok(c.clone());
            }
            // Attached since (its SetupIntent succeeded): Stripe replays the first answer.
            let attached = s.customers.values().find_map(|c| {
                c.sources.iter().find_map(|src| match src {
                    Source::Card(card) if card.id == id => Some(card.clone()),
                    _ => None,
                })
            });
            if let Some(mut c) = attached {
                c.customer = None;
                return Ok(c);
            }
        }
        if let NewCard::Made(id) = card {
            // Not saved yet, or saved on a customer (then it says which).
            let saved = s.customers.values().find_map(|c| {
                c.sources.iter().find_map(|src| match src {
                    Source::Card(card) if card.id == id => Some(card.clone()),
                    _ => None,
                })
            });
            return s
                .payment_methods
                .get(id)
                .map(|(c, _)| c.clone())
                .or(saved)
                .ok_or_else(|| not_found("payment_method", id));
        }
        let (mut c, declines, asks) = match card {
            NewCard::Details(card) => {
                let pan = card.number.expose();
                let mut c = s.card_given(card.number, card.expiry, card.name, address_of(card));
                let cvc = if card.cvv.expose() == CVC_FAILS {
                    "fail"
                } else {
                    "pass"
                };
                c.cvc_check = Some(cvc.into());
                if pan == DECLINED_AT_ATTACH {
                    s.declining.push(c.id.clone());
                }
                (c, pan == DECLINES_CHARGES, pan == AUTHENTICATES)
            }
            NewCard::Made(_) => unreachable!("read above"),
            NewCard::Token(token) => {
                let declined_token = s.declining.iter().any(|t| t == token);
                let asks = s.authenticating.iter().any(|t| t == token);
                let (c, declines) = s.token_card(token)?;
                if declined_token {
                    s.declining.push(c.id.clone());
                }
                (c, declines, asks)
            }
        };
        let was = c.id.clone();
        c.id = s.id("pm");
        if let Some(d) = s.declining.iter_mut().find(|d| **d == was) {
            *d = c.id.clone();
        }
        if declines {
            s.declining.push(format!("charges:{}", c.id));
        }
        s.replies.insert(idempotency_key.to_owned(), c.id.clone());
        s.payment_methods.insert(c.id.clone(), (c.clone(), asks));
        Ok(c)
    }

    async fn setup_off_session(
        &self,
        auth: &StripeAuth,
        customer: &str,
        payment_method: &str,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<SetupIntent, StripeError> {
        let cut_short = self.elapse("setup_off_session").await?;
        let mut s = self.state.lock().unwrap();
        s.call("setup_off_session", auth, idempotency_key.to_owned())?;
        if let Some(id) = s.replies.get(idempotency_key).cloned() {
            return Ok(s.setup_intents[&id].clone());
        }
        s.customer(customer)?;
        let Some((mut card, asks)) = s.payment_methods.get(payment_method).cloned() else {
            return Err(not_found("payment_method", payment_method));
        };
        if s.declining.iter().any(|d| d == payment_method) {
            return Err(declined("Your card was declined."));
        }
        let id = s.id("seti");
        let mut si = SetupIntent {
            client_secret: Some(format!("{id}_secret_mem")),
            id: id.clone(),
            status: "succeeded".into(),
            next_action: None,
            customer: Some(customer.to_owned()),
            payment_method: Some(payment_method.to_owned()),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            last_setup_error: None,
        };
        if asks {
            si.status = "requires_action".into();
            si.next_action = Some(serde_json::json!({"type": "use_stripe_sdk"}));
        } else {
            s.payment_methods.remove(payment_method);
            card.customer = Some(customer.to_owned());
            if s.declining
                .iter()
                .any(|d| *d == format!("charges:{payment_method}"))
            {
                s.declining.push(payment_method.to_owned());
            }
            s.customer(customer)?.sources.push(Source::Card(card));
        }
        s.replies.insert(idempotency_key.to_owned(), id.clone());
        s.setup_intents.insert(id, si.clone());
        if cut_short {
            return Err(cut("setup_off_session"));
        }
        Ok(si)
    }

    async fn retrieve_setup_intent(
        &self,
        auth: &StripeAuth,
        id: &str,
    ) -> Result<SetupIntent, StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("retrieve_setup_intent", auth, id.to_owned())?;
        s.setup_intents
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("setup_intent", id))
    }

    async fn cancel_setup_intent(
        &self,
        auth: &StripeAuth,
        id: &str,
    ) -> Result<SetupIntent, StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("cancel_setup_intent", auth, id.to_owned())?;
        let si = s
            .setup_intents
            .get_mut(id)
            .ok_or_else(|| not_found("setup_intent", id))?;
        // As Stripe: one that succeeded (or was canceled) cannot be canceled.
        if matches!(si.status.as_str(), "succeeded" | "canceled") {
            return Err(StripeError::Api {
                status: 400,
                kind: "invalid_request_error".into(),
                code: Some("setup_intent_unexpected_state".into()),
                param: None,
                message: format!(
                    "You cannot cancel this SetupIntent because it has a status of {}.",
                    si.status
                ),
            });
        }
        si.status = "canceled".into();
        si.next_action = None;
        Ok(si.clone())
    }

    async fn create_customer(
        &self,
        auth: &StripeAuth,
        _metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        self.new_customer("create_customer", auth, idempotency_key)
            .await
    }

    async fn token_card_id(&self, auth: &StripeAuth, token: &str) -> Result<String, StripeError> {
        if self.elapse("token_card_id").await? {
            return Err(cut("token_card_id"));
        }
        let mut s = self.state.lock().unwrap();
        s.call("token_card_id", auth, token.to_owned())?;
        s.minted
            .get(token)
            .cloned()
            .ok_or_else(|| not_found("token", token))
    }

    async fn add_card_on_file(
        &self,
        auth: &StripeAuth,
        customer: &str,
        card: &CardOnFile<'_>,
        idempotency_key: &str,
    ) -> Result<Card, StripeError> {
        let cut_short = self.elapse("add_card_on_file").await?;
        let mut s = self.state.lock().unwrap();
        s.call("add_card_on_file", auth, idempotency_key.to_owned())?;
        if let Some(card_id) = s.replies.get(idempotency_key).cloned() {
            if let Some(Source::Card(c)) = s
                .customer(customer)?
                .sources
                .iter()
                .find(|src| source_id(src) == card_id)
            {
                return Ok(c.clone());
            }
        }
        s.customer(customer)?;
        // As any card added to a customer: the issuer may refuse it here, and a card that
        // declines charges declines them wherever it was added from.
        let pan = card.number.expose();
        if pan == DECLINED_AT_ATTACH {
            return Err(declined("Your card was declined."));
        }
        let address = [
            card.address_line1,
            card.address_line2,
            card.address_city,
            card.address_zip,
            card.address_country,
        ];
        let mut c = s.card_given(card.number, card.expiry, card.name, address);
        if pan == DECLINES_CHARGES {
            s.declining.push(c.id.clone());
        }
        c.customer = Some(customer.to_owned());
        c.metadata.insert(
            crate::ports::CARD_METADATA_KEY.to_owned(),
            card.vault_card.to_string(),
        );
        s.replies.insert(idempotency_key.to_owned(), c.id.clone());
        s.accounts.insert(c.id.clone(), auth.account.clone());
        let holder = s.customer(customer)?;
        holder.sources.push(Source::Card(c.clone()));
        if holder.default_source.is_none() {
            holder.default_source = Some(c.id.clone());
        }
        if cut_short {
            return Err(cut("add_card_on_file"));
        }
        Ok(c)
    }

    async fn list_cards(
        &self,
        auth: &StripeAuth,
        customer: &str,
    ) -> Result<Vec<Card>, StripeError> {
        let mut s = self.state.lock().unwrap();
        s.call("list_cards", auth, customer.to_owned())?;
        Ok(s.customer(customer)?
            .sources
            .iter()
            .filter_map(|src| match src {
                Source::Card(c) => Some(c.clone()),
                Source::BankAccount(_) => None,
            })
            .collect())
    }
}
