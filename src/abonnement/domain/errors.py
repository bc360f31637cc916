"""Stable error codes, their HTTP statuses, messages and remedies, and the typed error hierarchy.

Every refusal the engine makes has a code here. Domain policies return `Refusal`s (data); services
raise them as `AbonnementError`s. Messages are English gettext msgids with `{name}` placeholders
filled from the refusal's context; `abonnement.i18n` translates them into nb, nl and da.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar


def N_(message: str) -> str:  # the gettext marker for extraction
    """Mark a string for translation without translating it here."""
    return message


class Code(StrEnum):
    # input and lookup
    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    ALREADY_EXISTS = "already_exists"
    CONCURRENT_CHANGE = "concurrent_change"
    # quantities (R3, R4)
    QUANTITY_BELOW_ASSIGNED = "quantity_below_assigned"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    ALL_LICENSES_ASSIGNED = "all_licenses_assigned"
    QUANTITY_AT_MINIMUM = "quantity_at_minimum"
    # availability (R5, R10)
    CREDIT_CHECK_PENDING = "credit_check_pending"
    PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD = "prepaid_needs_key_or_payment_method"
    PREPAID_LICENSES_CANNOT_BE_REMOVED = "prepaid_licenses_cannot_be_removed"
    MANAGED_BY_RESELLER = "managed_by_reseller"
    MANAGED_BY_VOLUME_LICENSING = "managed_by_volume_licensing"
    TRIAL_BUY_FIRST = "trial_buy_first"
    OFFER_END_OF_SALE = "offer_end_of_sale"
    SUBSCRIPTION_NOT_ACTIVE = "subscription_not_active"
    PAYMENT_METHOD_REQUIRED = "payment_method_required"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    CURRENCY_NOT_OFFERED = "currency_not_offered"
    # cancellation (R8, R14, R15)
    TRIAL_NOTHING_TO_CANCEL = "trial_nothing_to_cancel"
    OVER_ONLINE_CANCEL_LIMIT = "over_online_cancel_limit"
    ALREADY_ENDING = "already_ending"
    CANNOT_REACTIVATE = "cannot_reactivate"
    TRIAL_EXTENSION_UNAVAILABLE = "trial_extension_unavailable"
    # switch plan (R9)
    SWITCH_TOO_FEW_LICENSES = "switch_too_few_licenses"
    CHANGE_PENDING = "change_pending"
    SAME_OFFER = "same_offer"
    PREPAID_CANNOT_SWITCH = "prepaid_cannot_switch"
    # licenses
    NO_LICENSES_AVAILABLE = "no_licenses_available"
    TOO_MANY_USERS = "too_many_users"
    USER_ALREADY_LICENSED = "user_already_licensed"
    LICENSE_NOT_ASSIGNED = "license_not_assigned"
    ASSIGNMENT_NOT_ALLOWED = "assignment_not_allowed"
    # users and roles
    EMAIL_TAKEN = "email_taken"
    LAST_GLOBAL_ADMIN = "last_global_admin"
    # payments
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_INSUFFICIENT_FUNDS = "payment_insufficient_funds"
    PAYMENT_PROCESSING_ERROR = "payment_processing_error"
    # product keys
    PRODUCT_KEY_MALFORMED = "product_key_malformed"
    PRODUCT_KEY_TYPO = "product_key_typo"
    PRODUCT_KEY_UNKNOWN = "product_key_unknown"
    PRODUCT_KEY_ALREADY_REDEEMED = "product_key_already_redeemed"
    PRODUCT_KEY_MIXED_OFFERS = "product_key_mixed_offers"
    # webhooks
    WEBHOOK_URL_INVALID = "webhook_url_invalid"
    WEBHOOK_EVENT_TYPE_UNKNOWN = "webhook_event_type_unknown"
    # access
    UNAUTHENTICATED = "unauthenticated"
    # admin center sign-in
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_LOCKED = "sign_in_locked"
    PASSWORD_TOO_SHORT = "password_too_short"
    FORM_EXPIRED = "form_expired"
    # the REST API: idempotency keys and rate limits
    IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    IDEMPOTENCY_KEY_ANSWER_LOST = "idempotency_key_answer_lost"
    RATE_LIMITED = "rate_limited"


class Kind(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    REFUSED = "refused"
    CONFLICT = "conflict"
    UNAUTHENTICATED = "unauthenticated"
    BAD_REQUEST = "bad_request"
    TOO_MANY_REQUESTS = "too_many_requests"


@dataclass(frozen=True, slots=True)
class Spec:
    kind: Kind
    message: str
    remedy: str | None = None


_STATUS = {
    Kind.INVALID: 422,
    Kind.NOT_FOUND: 404,
    Kind.FORBIDDEN: 403,
    Kind.REFUSED: 409,
    Kind.CONFLICT: 409,
    Kind.UNAUTHENTICATED: 401,
    Kind.BAD_REQUEST: 400,
    Kind.TOO_MANY_REQUESTS: 429,
}

SPECS: Mapping[Code, Spec] = {
    Code.INVALID_INPUT: Spec(Kind.INVALID, N_("The value of {field} is not valid: {problem}.")),
    Code.NOT_FOUND: Spec(Kind.NOT_FOUND, N_("No {entity} with the id {id} was found.")),
    Code.PERMISSION_DENIED: Spec(
        Kind.FORBIDDEN,
        N_("Your admin role does not allow this action ({action})."),
        N_("Ask a global administrator to do it, or to give you a role that allows it."),
    ),
    Code.ALREADY_EXISTS: Spec(Kind.CONFLICT, N_("A {entity} named {name} already exists.")),
    Code.CONCURRENT_CHANGE: Spec(
        Kind.CONFLICT,
        N_("Someone else changed this at the same time."),
        N_("Reload and try again."),
    ),
    Code.QUANTITY_BELOW_ASSIGNED: Spec(
        Kind.REFUSED,
        N_(
            "You can't reduce the number of licenses to {requested}, because {assigned} "
            "licenses are assigned to users."
        ),
        N_("Unassign licenses from users first, then remove the licenses."),
    ),
    Code.QUANTITY_OUT_OF_RANGE: Spec(
        Kind.INVALID,
        N_("The total number of licenses must be between {minimum} and {maximum}."),
    ),
    Code.ALL_LICENSES_ASSIGNED: Spec(
        Kind.REFUSED,
        N_("All {assigned} licenses are assigned to users, so none can be removed."),
        N_("Unassign licenses from one or more users first."),
    ),
    Code.QUANTITY_AT_MINIMUM: Spec(
        Kind.REFUSED,
        N_("The subscription already has the smallest number of licenses ({minimum})."),
        N_("To stop paying for it, cancel the subscription instead."),
    ),
    Code.CREDIT_CHECK_PENDING: Spec(
        Kind.REFUSED,
        N_("A credit check is pending for this subscription."),
        N_(
            "The credit check completes within two business days. "
            "Then you can buy or remove licenses."
        ),
    ),
    Code.PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD: Spec(
        Kind.REFUSED,
        N_("This subscription was prepaid with a product key."),
        N_(
            "Add licenses by redeeming another product key, or add a credit card or bank "
            "account to pay for extra licenses."
        ),
    ),
    Code.PREPAID_LICENSES_CANNOT_BE_REMOVED: Spec(
        Kind.REFUSED,
        N_("The {prepaid} licenses prepaid with a product key can't be removed."),
        N_("Only licenses bought with a payment method can be removed."),
    ),
    Code.MANAGED_BY_RESELLER: Spec(
        Kind.REFUSED,
        N_("This subscription was bought through a partner."),
        N_("Contact your partner to buy, remove or cancel licenses."),
    ),
    Code.MANAGED_BY_VOLUME_LICENSING: Spec(
        Kind.REFUSED,
        N_("This subscription belongs to a Volume Licensing agreement."),
        N_("Make changes through your agreement's Volume Licensing Service Center."),
    ),
    Code.TRIAL_BUY_FIRST: Spec(
        Kind.REFUSED,
        N_("This is a trial subscription."),
        N_("Buy the subscription first; then you can buy or remove licenses."),
    ),
    Code.OFFER_END_OF_SALE: Spec(
        Kind.REFUSED,
        N_("{offer} is no longer sold."),
        N_("Switch to a current plan to add licenses."),
    ),
    Code.SUBSCRIPTION_NOT_ACTIVE: Spec(
        Kind.REFUSED,
        N_("This subscription is {status}."),
        N_("A global or billing administrator must reactivate it first."),
    ),
    Code.PAYMENT_METHOD_REQUIRED: Spec(
        Kind.REFUSED,
        N_("There is no payment method on file."),
        N_("Add a credit card or bank account, then try again."),
    ),
    Code.CHANNEL_NOT_ALLOWED: Spec(
        Kind.REFUSED, N_("{offer} can't be bought through the {channel} channel.")
    ),
    Code.CURRENCY_NOT_OFFERED: Spec(Kind.REFUSED, N_("{offer} has no price in {currency}.")),
    Code.TRIAL_NOTHING_TO_CANCEL: Spec(
        Kind.REFUSED,
        N_("A trial has nothing to cancel."),
        N_("It expires by itself unless you add a payment method, which turns it into a paid one."),
    ),
    Code.OVER_ONLINE_CANCEL_LIMIT: Spec(
        Kind.REFUSED,
        N_(
            "This subscription has {assigned} assigned licenses; it can be cancelled online "
            "with at most {limit}."
        ),
        N_("Remove users until {limit} or fewer have licenses, or choose “Let us call you”."),
    ),
    Code.ALREADY_ENDING: Spec(
        Kind.REFUSED, N_("This subscription already ends on {ends_on}; recurring billing is off.")
    ),
    Code.CANNOT_REACTIVATE: Spec(
        Kind.REFUSED,
        N_("A subscription that is {status} can't be reactivated."),
        N_("Only expired or disabled subscriptions can be reactivated."),
    ),
    Code.TRIAL_EXTENSION_UNAVAILABLE: Spec(
        Kind.REFUSED,
        N_("This trial can't be extended."),
        N_("A trial can be extended once, within {within} days of its end."),
    ),
    Code.SWITCH_TOO_FEW_LICENSES: Spec(
        Kind.REFUSED,
        N_(
            "The new plan would have {requested} licenses, but {assigned} users have licenses "
            "to move."
        ),
        N_("Choose at least {assigned} licenses, or unassign licenses first."),
    ),
    Code.CHANGE_PENDING: Spec(
        Kind.REFUSED,
        N_("A change to this subscription is already scheduled for {effective}."),
        N_("Wait until it takes effect, or turn recurring billing off and on to drop it."),
    ),
    Code.PREPAID_CANNOT_SWITCH: Spec(
        Kind.REFUSED,
        N_("A subscription prepaid with a product key can't be switched to another plan."),
        N_("Redeem a product key for the plan you want, or buy that plan online."),
    ),
    Code.SAME_OFFER: Spec(Kind.INVALID, N_("The subscription already uses {offer}.")),
    Code.NO_LICENSES_AVAILABLE: Spec(
        Kind.REFUSED,
        N_("{product}: {requested} licenses are needed and {available} are available."),
        N_("Buy more licenses, or unassign licenses from other users."),
    ),
    Code.TOO_MANY_USERS: Spec(
        Kind.INVALID, N_("At most {maximum} users can be changed at once; you chose {requested}.")
    ),
    Code.USER_ALREADY_LICENSED: Spec(
        Kind.REFUSED, N_("{user} already has a license for {product}.")
    ),
    Code.LICENSE_NOT_ASSIGNED: Spec(Kind.REFUSED, N_("{user} has no license for {product}.")),
    Code.ASSIGNMENT_NOT_ALLOWED: Spec(
        Kind.REFUSED,
        N_("Licenses of a subscription that is {status} can't be assigned."),
        N_("A global or billing administrator must reactivate it first."),
    ),
    Code.EMAIL_TAKEN: Spec(Kind.CONFLICT, N_("A user with the address {email} already exists.")),
    Code.LAST_GLOBAL_ADMIN: Spec(
        Kind.REFUSED,
        N_("The organization must keep at least one global administrator."),
        N_("Make another user a global administrator first."),
    ),
    Code.PAYMENT_DECLINED: Spec(
        Kind.REFUSED,
        N_("The payment of {amount} was declined, so nothing was bought."),
        N_("Use another payment method, or ask your bank why the card was declined."),
    ),
    Code.PAYMENT_INSUFFICIENT_FUNDS: Spec(
        Kind.REFUSED,
        N_("The payment of {amount} was declined for insufficient funds, so nothing was bought."),
        N_("Use another payment method, or try again when the funds are there."),
    ),
    Code.PAYMENT_PROCESSING_ERROR: Spec(
        Kind.CONFLICT,
        N_("The payment of {amount} could not be processed just now, so nothing was bought."),
        N_("Try again in a few minutes."),
    ),
    Code.PRODUCT_KEY_MALFORMED: Spec(
        Kind.INVALID,
        N_("{key} is not a product key. A product key has 25 characters in five groups of five."),
    ),
    Code.PRODUCT_KEY_TYPO: Spec(
        Kind.INVALID,
        N_("The product key {key} has a typing error."),
        N_("Check each character against the key you received."),
    ),
    Code.PRODUCT_KEY_UNKNOWN: Spec(Kind.NOT_FOUND, N_("The product key {key} is not valid.")),
    Code.PRODUCT_KEY_ALREADY_REDEEMED: Spec(
        Kind.REFUSED, N_("The product key {key} has already been used.")
    ),
    Code.PRODUCT_KEY_MIXED_OFFERS: Spec(
        Kind.INVALID, N_("Product keys redeemed together must be for the same product.")
    ),
    Code.WEBHOOK_URL_INVALID: Spec(
        Kind.INVALID,
        N_("{url} can't receive webhooks."),
        N_("Give a full http:// or https:// address with a host name, without a user name."),
    ),
    Code.WEBHOOK_EVENT_TYPE_UNKNOWN: Spec(
        Kind.INVALID,
        N_("There is no event type {type}."),
        N_("Use * for every event, a family such as subscription.*, or one of the event types."),
    ),
    Code.IDEMPOTENCY_KEY_INVALID: Spec(
        Kind.BAD_REQUEST,
        N_("The {header} header must hold 1 to {maximum} printable ASCII characters."),
        N_("Send a new unique value, such as a UUID, for each operation."),
    ),
    Code.IDEMPOTENCY_KEY_REUSED: Spec(
        Kind.INVALID,
        N_("The idempotency key {key} was already used for another request ({method} {path})."),
        N_(
            "Use a new key for each operation; send a key again only to retry the very same "
            "request."
        ),
    ),
    Code.IDEMPOTENCY_KEY_IN_USE: Spec(
        Kind.CONFLICT,
        N_("A request with the idempotency key {key} is still being processed."),
        N_("Retry in a moment: the retry gets the first request's answer."),
    ),
    Code.IDEMPOTENCY_KEY_ANSWER_LOST: Spec(
        Kind.CONFLICT,
        N_(
            "The request with the idempotency key {key} was carried out, but its answer was "
            "lost when the server stopped."
        ),
        N_("Don't send it again: look up the result instead (it was made exactly once)."),
    ),
    Code.RATE_LIMITED: Spec(
        Kind.TOO_MANY_REQUESTS,
        N_("Too many requests in a short time: at most {limit} per second are accepted."),
        N_("Wait {retry_after} seconds, then try again, and send requests more slowly."),
    ),
    Code.UNAUTHENTICATED: Spec(
        Kind.UNAUTHENTICATED,
        N_("The request has no valid API key."),
        N_(
            "Send the header “Authorization: Bearer” followed by a key that has not been "
            "revoked, copied in full."
        ),
    ),
    Code.SIGN_IN_FAILED: Spec(
        Kind.UNAUTHENTICATED,
        N_("The email address or the password is not correct."),
        N_("Check both and try again. If you have no password yet, ask a global administrator."),
    ),
    Code.SIGN_IN_LOCKED: Spec(
        Kind.REFUSED,
        N_("Too many failed sign-ins: the account is locked for {minutes} more minutes."),
        N_("Wait and try again, or ask a global administrator to set a new password."),
    ),
    Code.PASSWORD_TOO_SHORT: Spec(
        Kind.INVALID,
        N_("The password must have at least {minimum} characters."),
        N_("Choose a longer password, e.g. a few words that belong together only for you."),
    ),
    Code.FORM_EXPIRED: Spec(
        Kind.FORBIDDEN,
        N_("The form has expired or did not come from this page, so nothing was changed."),
        N_("Reload the page and try again."),
    ),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A typed reason why something can't be done, with the facts that explain it."""

    code: Code
    context: Mapping[str, object] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return SPECS[self.code].message.format(**self.context)

    @property
    def remedy(self) -> str | None:
        remedy = SPECS[self.code].remedy
        return remedy.format(**self.context) if remedy else None


class AbonnementError(Exception):
    """Base of every error the engine raises on purpose. A 500 is a bug, never one of these."""

    kind: ClassVar[Kind] = Kind.INVALID

    def __init__(self, code: Code, **context: object) -> None:
        self.code = code
        self.context: dict[str, object] = dict(context)
        super().__init__(f"{code}: {self.message}")

    @property
    def status(self) -> int:
        return _STATUS[SPECS[self.code].kind]

    @property
    def message(self) -> str:
        return Refusal(self.code, self.context).message

    @property
    def remedy(self) -> str | None:
        return Refusal(self.code, self.context).remedy


class InvalidInputError(AbonnementError):
    kind = Kind.INVALID


class NotFoundError(AbonnementError):
    kind = Kind.NOT_FOUND


class PermissionDeniedError(AbonnementError):
    kind = Kind.FORBIDDEN


class RefusedError(AbonnementError):
    kind = Kind.REFUSED


class ConflictError(AbonnementError):
    kind = Kind.CONFLICT


class UnauthenticatedError(AbonnementError):
    kind = Kind.UNAUTHENTICATED


class BadRequestError(AbonnementError):
    kind = Kind.BAD_REQUEST


class TooManyRequestsError(AbonnementError):
    kind = Kind.TOO_MANY_REQUESTS


_CLASSES: Mapping[Kind, type[AbonnementError]] = {
    Kind.INVALID: InvalidInputError,
    Kind.NOT_FOUND: NotFoundError,
    Kind.FORBIDDEN: PermissionDeniedError,
    Kind.REFUSED: RefusedError,
    Kind.CONFLICT: ConflictError,
    Kind.UNAUTHENTICATED: UnauthenticatedError,
    Kind.BAD_REQUEST: BadRequestError,
    Kind.TOO_MANY_REQUESTS: TooManyRequestsError,
}


def error(code: Code, **context: object) -> AbonnementError:
    """The typed error for a code: `raise error(Code.NOT_FOUND, entity="user", id=7)`."""
    return _CLASSES[SPECS[code].kind](code, **context)


def from_refusal(refusal: Refusal) -> AbonnementError:
    return error(refusal.code, **refusal.context)
