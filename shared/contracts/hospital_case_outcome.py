"""`hospital.case.outcome`: intake's answer to each case a hospital system sent on
`hospital.case.submitted`: accepted (with the case id) or rejected (with the field at fault, a
machine-readable code and a sentence).

Keyed (and `subject`) by the hospital's organization, so a hospital reads its own answers in
the order they were given. It carries ids and codes only: never a name, a birth date, an email
address or a phone number, and the sentence never repeats a submitted value.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from shared.contracts.common import CaseId, ShortText
from shared.envelope import Payload

OutcomeCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,63}$")]


class HospitalCaseOutcome(Payload):
    """Intake's answer to one hospital submission: accepted, or rejected and why."""

    event_type = "hospital.case.outcome"
    schema_version = 1

    organization_id: ShortText = Field(
        description="The hospital: the submission's `organization_id`, else its CloudEvent "
        "`source`. Also the Kafka key and the CloudEvent `subject`."
    )
    submission_id: ShortText = Field(
        description="The `id` of the hospital's CloudEvent; for a message without one, "
        "`offset/<partition>/<offset>` on `hospital.case.submitted`."
    )
    submitted_case_id: ShortText | None = Field(
        default=None,
        description="The case id the submission named (its `subject` and `data.case_id`); "
        "absent when an unreadable message named none.",
    )
    hospital_request_id: ShortText | None = Field(
        default=None, description="The hospital's own request identifier, if it sent one."
    )
    outcome: Literal["accepted", "rejected"]
    accepted_case_id: CaseId | None = Field(
        default=None, description="On `accepted`: the platform's case for this submission."
    )
    code: OutcomeCode | None = Field(
        default=None,
        description="On `rejected`: why, as a code: `date_in_future`, `not_pediatric`, "
        "`unknown_consent_version`, `case_id_taken` (another sender's case has this id), "
        "`duplicate_request_id` (this request id was submitted before with another case id); "
        "for a message that is not a valid case.submitted CloudEvent, the reason it is "
        "dead-lettered with: `invalid_payload` (the field named; `message` lists the failing "
        "fields and rules), `key_mismatch`, `type_mismatch`, `not_a_cloudevent`, "
        "`unsupported_version`, `bad_dataschema`; new codes may be added.",
    )
    field: ShortText | None = Field(
        default=None,
        description="On `rejected`: the field at fault, as a path into `case.submitted`'s "
        "data (e.g. `consent.text_version`).",
    )
    message: ShortText | None = Field(
        default=None, description="On `rejected`: one sentence for a person; never a value."
    )
    earlier_case_id: CaseId | None = Field(
        default=None,
        description="On `duplicate_request_id`: the case the earlier submission of this "
        "request opened, when that case belongs to the same organization.",
    )

    @model_validator(mode="after")
    def _says_what_its_outcome_needs(self) -> Self:
        if self.outcome == "accepted" and self.accepted_case_id is None:
            raise ValueError("an accepted submission names its case")
        if self.outcome == "rejected" and (self.code is None or self.message is None):
            raise ValueError("a rejected submission says why, with a code and a message")
        return self
