// cardvault's additions to localstripe's Stripe.js stand-in (localstripe-v3.js, served just
// above this by infra/localstripe_cardvault.py at /js.stripe.com/v3/). localstripe 1.15's
// createPaymentMethod does nothing, its confirmCardSetup needs card data (an SI that already
// has its PaymentMethod cannot be confirmed) and "fails" 3-D Secure by cancelling the
// SetupIntent. Stripe.js (https://docs.stripe.com/js) does:
//   stripe.createPaymentMethod({type: 'card', card: cardElement, billing_details})
//   stripe.createPaymentMethod('card', cardElement, {billing_details})   (older form)
//     -> {paymentMethod} | {error}
//   stripe.confirmCardSetup(clientSecret[, {payment_method: 'pm_…' | {card: cardElement,
//     billing_details}}]) -> {setupIntent} | {error}   (3-D Secure: localstripe's modal,
//     then POST /v1/setup_intents/{id}/_authenticate?success=true|false)
//   stripe.handleNextAction({clientSecret}) -> {setupIntent} | {paymentIntent} | {error}
//   stripe.retrieveSetupIntent(clientSecret) -> {setupIntent} | {error}
// Everything else is localstripe's. Requests authenticate as Stripe.js does: the
// publishable key as `key` in the body (or the query of a GET), with the client_secret.
(function () {
  const localstripe = Stripe;

  async function call(method, path, apiKey, body) {
    let url = `${LOCALSTRIPE_BASE_API}${path}`;
    const init = {method};
    if (method === 'GET') {
      const query = new URLSearchParams({key: apiKey, ...body});
      url += (url.includes('?') ? '&' : '?') + query.toString();
    } else {
      init.headers = {'Content-Type': 'application/json'};
      init.body = JSON.stringify({key: apiKey, payment_user_agent: 'localstripe', ...body});
    }
    try {
      const response = await fetch(url, init);
      const res = await response.json().catch(() => ({}));
      if (response.status !== 200 || res.error) {
        return {error: res.error || {message: `HTTP ${response.status}`}};
      }
      return {result: res};
    } catch (err) {
      return {error: {type: 'api_connection_error', message: String(err)}};
    }
  }

  // A card Element's fields ({number, exp_month, exp_year, cvc}) and its postal code in
  // billing_details, as Stripe.js sends them.
  function cardData(card, billingDetails) {
    const details = {...(billingDetails || {})};
    if (card instanceof Element || (card && card.value && card.value.card)) {
      const value = card.value || {card: {}};
      const fields = {...value.card};
      if (!fields.cvc) delete fields.cvc;  // no CVC: no CVC check, as Stripe answers
      if (value.postal_code) {
        details.address = {postal_code: value.postal_code, ...(details.address || {})};
      }
      return {card: fields, billing_details: details};
    }
    return {card, billing_details: details};  // {token: 'tok_…'} or raw fields
  }

  function intentOf(clientSecret) {
    const match = /^((seti|pi)_[A-Za-z0-9]+)_secret_/.exec(clientSecret || '');
    if (!match) return null;
    return match[2] === 'seti'
      ? {id: match[1], path: `/v1/setup_intents/${match[1]}`, key: 'setupIntent'}
      : {id: match[1], path: `/v1/payment_intents/${match[1]}`, key: 'paymentIntent'};
  }

  // 3-D Secure: localstripe's modal, then the intent's _authenticate with its answer.
  async function authenticate(apiKey, intent, clientSecret) {
    const success = await openModal('3D Secure\nDo you want to confirm or cancel?',
                                    'Complete authentication', 'Fail authentication');
    const {result, error} = await call(
      'POST', `${intent.path}/_authenticate?success=${success}`, apiKey,
      {client_secret: clientSecret});
    if (error) return {error};
    return settled(intent, result);
  }

  // What Stripe.js answers for an intent after its next action: the intent when it
  // succeeded (or is processing / requires_capture), else its last error naming it.
  function settled(intent, result) {
    const lastError = result.last_setup_error || result.last_payment_error;
    if (result.status === 'requires_payment_method' && lastError) {
      const error = {...lastError};
      error[intent.key === 'setupIntent' ? 'setup_intent' : 'payment_intent'] = result;
      return {error};
    }
    return {[intent.key]: result};
  }

  async function nextAction(apiKey, intent, clientSecret, result) {
    if (result.status === 'requires_action') {
      return authenticate(apiKey, intent, clientSecret);
    }
    return settled(intent, result);
  }

  Stripe = function (apiKey, options) {
    const stripe = localstripe(apiKey, options);

    stripe.createPaymentMethod = async (typeOrData, element, data) => {
      console.log('localstripe: Stripe().createPaymentMethod()');
      const params = typeof typeOrData === 'string'
        ? {type: typeOrData, card: element, ...(data || {})}
        : {...typeOrData};
      if (params.type !== 'card') {
        return {error: {type: 'invalid_request_error',
                        message: `localstripe: type ${params.type} is not supported`}};
      }
      const {card, billing_details} = cardData(params.card, params.billing_details);
      const body = {type: 'card', card, billing_details};
      if (params.metadata) body.metadata = params.metadata;
      const {result, error} = await call('POST', '/v1/payment_methods', apiKey, body);
      return error ? {error} : {paymentMethod: result};
    };

    stripe.confirmCardSetup = async (clientSecret, data) => {
      console.log('localstripe: Stripe().confirmCardSetup()');
      const intent = intentOf(clientSecret);
      if (!intent || intent.key !== 'setupIntent') {
        return {error: {type: 'invalid_request_error',
                        message: 'Invalid value for confirmCardSetup: clientSecret'}};
      }
      const body = {client_secret: clientSecret, use_stripe_sdk: true};
      const pm = data && data.payment_method;
      if (typeof pm === 'string') {
        body.payment_method = pm;
      } else if (pm) {
        body.payment_method_data = {type: 'card', ...cardData(pm.card, pm.billing_details)};
      } else {
        // No data: the SetupIntent's own PaymentMethod. Already confirmed by the server
        // and waiting for 3-D Secure: authenticate it, as Stripe.js does.
        const got = await call('GET', intent.path, apiKey, {client_secret: clientSecret});
        if (got.error) return {error: got.error};
        if (got.result.status === 'requires_action') {
          return authenticate(apiKey, intent, clientSecret);
        }
      }
      const {result, error} = await call('POST', `${intent.path}/confirm`, apiKey, body);
      if (error) return {error};
      return nextAction(apiKey, intent, clientSecret, result);
    };

    stripe.handleCardSetup = async (clientSecret, element, data) =>  // deprecated
      stripe.confirmCardSetup(clientSecret, element instanceof Element
        ? {payment_method: {card: element, ...((data && data.payment_method_data) || {})}}
        : element);

    stripe.handleNextAction = async ({clientSecret}) => {
      console.log('localstripe: Stripe().handleNextAction()');
      const intent = intentOf(clientSecret);
      if (!intent) {
        return {error: {type: 'invalid_request_error',
                        message: 'Invalid value for handleNextAction: clientSecret'}};
      }
      const {result, error} = await call('GET', intent.path, apiKey,
                                         {client_secret: clientSecret});
      if (error) return {error};
      return nextAction(apiKey, intent, clientSecret, result);
    };

    stripe.retrieveSetupIntent = async (clientSecret) => {
      const intent = intentOf(clientSecret);
      if (!intent || intent.key !== 'setupIntent') {
        return {error: {type: 'invalid_request_error',
                        message: 'Invalid value for retrieveSetupIntent: clientSecret'}};
      }
      const {result, error} = await call('GET', intent.path, apiKey,
                                         {client_secret: clientSecret});
      return error ? {error} : {setupIntent: result};
    };

    return stripe;
  };
})();
