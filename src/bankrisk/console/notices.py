"""An adverse-action notice in the structure of Regulation B's sample form C-1 (12 CFR 1002,
Appendix C): the creditor's name and address, the date, the applicant, the credit asked for,
the action taken, up to four principal reasons (the reason codes' texts) and the ECOA notice
naming the agency that supervises the creditor.

The creditor and the agency come from the settings (`creditor_name`, `creditor_address`,
`creditor_agency`): never invented; when one is empty the notice says so in a visible
warning (`missing`), and must not be sent as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bankrisk.config import Settings
from bankrisk.core.scorer import Prediction

MAX_REASONS = 4  # Regulation B: more than four principal reasons are rarely meaningful
ACCOUNT = "Credit card account"
ACTIONS = {
    "decline": "Credit denied: we are unable to approve your application at this time.",
    "review": "Credit not approved on the terms requested: your application has been "
    "referred for further review.",
}
ECOA_NOTICE = (
    "The federal Equal Credit Opportunity Act prohibits creditors from discriminating against "
    "credit applicants on the basis of race, color, religion, national origin, sex, marital "
    "status, age (provided the applicant has the capacity to enter into a binding contract); "
    "because all or part of the applicant's income derives from any public assistance "
    "program; or because the applicant has in good faith exercised any right under the "
    "Consumer Credit Protection Act. The federal agency that administers compliance with this "
    "law concerning this creditor is:"
)
SETTING_NAMES = {
    "creditor_name": "BANKRISK_CREDITOR_NAME",
    "creditor_address": "BANKRISK_CREDITOR_ADDRESS",
    "creditor_agency": "BANKRISK_CREDITOR_AGENCY",
}


@dataclass(frozen=True)
class Notice:
    """What the notice prints; `missing` names the settings left empty."""

    creditor_name: str
    creditor_address: str
    creditor_agency: str
    missing: tuple[str, ...]
    date: str
    applicant_name: str
    applicant_address: str
    customer_id: str | None
    account: str
    action: str
    reasons: tuple[str, ...]


def _long_date(when: datetime) -> str:
    return f"{when:%B} {when.day}, {when.year}"


def adverse_action(decision: str) -> str | None:
    """The action taken, in the notice's words; None when the decision is no adverse one."""
    return ACTIONS.get(decision)


def build_notice(
    settings: Settings,
    prediction: Prediction,
    *,
    applicant_name: str = "",
    applicant_address: str = "",
    today: datetime | None = None,
) -> Notice:
    """The notice of a declined (or referred) customer. ValueError for an approved one."""
    action = adverse_action(prediction["decision"])
    if action is None:
        raise ValueError(f"no adverse action for a decision of {prediction['decision']!r}")
    configured = {
        "creditor_name": settings.creditor_name.strip(),
        "creditor_address": settings.creditor_address.strip(),
        "creditor_agency": settings.creditor_agency.strip(),
    }
    texts = [r["text"] for r in prediction["reason_codes"]]
    return Notice(
        **configured,
        missing=tuple(SETTING_NAMES[k] for k, v in configured.items() if not v),
        date=_long_date(today or datetime.now(UTC)),
        applicant_name=applicant_name.strip(),
        applicant_address=applicant_address.strip(),
        customer_id=prediction["customer_id"],
        account=ACCOUNT,
        action=action,
        reasons=tuple(dict.fromkeys(texts))[:MAX_REASONS],
    )
