"""Which raw fields a model reads, and whether a candidate reads other fields than the champion.

Why the gate treats an input change apart from the AUC and Brier comparison: the comparison
says whether the new model ranks and calibrates better, not whether it may use what it uses.
A model that starts reading EDUCATION or AGE (`BANKRISK_USE_EDUCATION`, `BANKRISK_USE_AGE`)
changes what a customer is judged on, what the fairness review and the adverse-action notices
must cover, and what every scoring request must carry. That is a decision for a person (a model
validator), so such a version is never promoted automatically, however good it is: it becomes
the challenger, and a person who has reviewed it promotes it with `bankrisk promote VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bankrisk.features.engineering import FeatureSet
from bankrisk.schema import FIELD_NAMES, PROTECTED

# Model version tags (and training run tags).
INPUTS_TAG = "inputs"
INPUTS_CHANGED_TAG = "gate.inputs_changed"
INPUTS_CHANGE_TAG = "gate.inputs_change"
# Fields a model reads only when its feature set switches them on.
OPTIONAL_INPUTS = ("EDUCATION", "AGE")


def model_inputs(features: FeatureSet) -> tuple[str, ...]:
    """The raw fields (in schema order) a model with these features reads."""
    switched_on = {"EDUCATION": features.use_education, "AGE": features.use_age}
    return tuple(
        name
        for name in FIELD_NAMES
        if switched_on.get(name, name not in PROTECTED and name not in OPTIONAL_INPUTS)
    )


def parse_inputs(tag: str | None) -> tuple[str, ...] | None:
    """The `inputs` tag back as a tuple; None for a version without it."""
    if not tag:
        return None
    return tuple(name.strip() for name in tag.split(",") if name.strip())


@dataclass(frozen=True)
class InputChange:
    """The candidate's inputs against the champion's. `champion` is None when there is no
    champion yet (`first`: nothing to change from) or its inputs cannot be read (the gate could
    not load it: unknown)."""

    candidate: tuple[str, ...]
    champion: tuple[str, ...] | None
    first: bool = False

    @property
    def known(self) -> bool:
        return self.champion is not None

    @property
    def added(self) -> tuple[str, ...]:
        old = set(self.champion or ())
        return tuple(n for n in self.candidate if n not in old) if self.known else ()

    @property
    def removed(self) -> tuple[str, ...]:
        new = set(self.candidate)
        return tuple(n for n in self.champion or () if n not in new)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    @property
    def status(self) -> str:
        """`true`, `false`, or `unknown` (a champion whose inputs could not be read)."""
        if not self.known and not self.first:
            return "unknown"
        return str(self.changed).lower()

    def description(self) -> str:
        """E.g. `EDUCATION added`, `AGE removed`, `EDUCATION added, AGE removed`."""
        parts = []
        if self.added:
            parts.append(f"{', '.join(self.added)} added")
        if self.removed:
            parts.append(f"{', '.join(self.removed)} removed")
        return "; ".join(parts) or "unchanged"

    def tags(self) -> dict[str, str]:
        tags = {
            INPUTS_TAG: ",".join(self.candidate),
            INPUTS_CHANGED_TAG: self.status,
        }
        if self.changed:
            tags[INPUTS_CHANGE_TAG] = self.description()
        return tags
