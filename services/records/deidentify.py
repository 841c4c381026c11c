"""De-identified copies: DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile,
optionally with the Retain Longitudinal Temporal Information Full Dates Option.

`BASIC_PROFILE` is a subset of Table E.1-1: every attribute that identifies the patient, the
people, the places or the times in the files we test with, and the common ones beyond them.
Attributes the table does not name are covered by rules by value representation: every person
name is emptied, every other date and time emptied (or kept under the option), every other
instance-like UID replaced, and attributes unknown to the dictionary removed. Private
attributes, overlays' data and comments, curves and group lengths are removed, and the
128-byte preamble is cleared. Pixel data is not examined: burned-in text is reported, not
cleaned.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydicom import DataElement, Dataset, FileDataset
from pydicom.tag import BaseTag

Action = Literal["X", "Z", "D", "U", "K"]  # remove, empty, dummy, new UID, keep

BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
RETAIN_DATES_CODE = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
WELL_KNOWN_UID_ROOT = "1.2.840.10008."


def _all(action: Action, keywords: str) -> dict[str, Action]:
    return dict.fromkeys(keywords.split(), action)


BASIC_PROFILE: dict[str, Action] = {
    # Patient identity and characteristics.
    **_all("D", "PatientName PatientID"),
    **_all("Z", "PatientBirthDate PatientSex"),
    **_all(
        "X",
        """PatientBirthTime PatientAge PatientSize PatientWeight PatientAddress PatientComments
        OtherPatientIDs OtherPatientIDsSequence OtherPatientNames IssuerOfPatientID
        IssuerOfPatientIDQualifiersSequence PatientBirthName PatientMotherBirthName
        PatientTelephoneNumbers EthnicGroup Occupation AdditionalPatientHistory MedicalAlerts
        Allergies PregnancyStatus SmokingStatus PatientReligiousPreference MilitaryRank
        BranchOfService CountryOfResidence RegionOfResidence MedicalRecordLocator
        ResponsiblePerson ResponsibleOrganization PatientInsurancePlanCodeSequence
        ReferencedPatientSequence ReferencedPatientPhotoSequence PatientState
        AdmittingDiagnosesDescription AdmissionID CurrentPatientLocation
        PatientInstitutionResidence VisitComments""",
    ),
    # People who took part, and the places.
    **_all("Z", "ReferringPhysicianName ContentCreatorName VerifyingObserverName PersonName"),
    **_all(
        "X",
        """ReferringPhysicianAddress ReferringPhysicianTelephoneNumbers
        ReferringPhysicianIdentificationSequence PhysiciansOfRecord
        PhysiciansOfRecordIdentificationSequence PerformingPhysicianName
        PerformingPhysicianIdentificationSequence NameOfPhysiciansReadingStudy
        PhysiciansReadingStudyIdentificationSequence OperatorsName
        OperatorIdentificationSequence RequestingPhysician RequestingService
        InstitutionName InstitutionAddress InstitutionCodeSequence InstitutionalDepartmentName
        StationName PerformedStationName PerformedStationAETitle PerformedLocation
        ScheduledStationName ScheduledStationAETitle VerifyingOrganization PersonAddress
        PersonTelephoneNumbers AuthorObserverSequence ParticipantSequence""",
    ),
    # Orders, procedures and free text that may name anyone.
    **_all("Z", "AccessionNumber StudyID ClinicalTrialCoordinatingCenterName"),
    **_all("Z", "ClinicalTrialTimePointID DeviceSerialNumber ContrastBolusAgent"),
    **_all(
        "X",
        """StudyDescription SeriesDescription ProtocolName ImageComments DerivationDescription
        StudyComments RequestedProcedureDescription RequestedProcedureID
        RequestedProcedureComments ReasonForStudy RequestAttributesSequence
        ScheduledProcedureStepDescription ScheduledProcedureStepID
        PerformedProcedureStepDescription PerformedProcedureStepID
        CommentsOnThePerformedProcedureStep ReferencedPerformedProcedureStepSequence
        ReferencedStudySequence AcquisitionComments AcquisitionContextSequence
        AcquisitionDeviceProcessingDescription AcquisitionProtocolDescription
        ImagingServiceRequestComments PlacerOrderNumberImagingServiceRequest
        FillerOrderNumberImagingServiceRequest ClinicalTrialSeriesID ServiceEpisodeID
        ServiceEpisodeDescription TextValue ContentSequence GraphicAnnotationSequence
        IconImageSequence StorageMediaFileSetID DigitalSignaturesSequence
        EncryptedAttributesSequence OriginalAttributesSequence ModifiedAttributesSequence
        MACParametersSequence DataSetTrailingPadding DeidentificationMethod
        DeidentificationMethodCodeSequence""",
    ),
    # Dates and times (kept under the Retain Longitudinal Temporal Information option).
    **_all("Z", "StudyDate StudyTime ContentDate ContentTime AcquisitionDate AcquisitionTime"),
    **_all(
        "X",
        """AcquisitionDateTime SeriesDate SeriesTime InstanceCreationDate InstanceCreationTime
        PerformedProcedureStepStartDate PerformedProcedureStepStartTime
        PerformedProcedureStepEndDate PerformedProcedureStepEndTime
        ScheduledProcedureStepStartDate ScheduledProcedureStepStartTime
        DateOfLastCalibration TimeOfLastCalibration DateOfSecondaryCapture
        TimeOfSecondaryCapture OverlayDate OverlayTime CurveDate CurveTime
        TimezoneOffsetFromUTC FrameAcquisitionDateTime FrameReferenceDateTime""",
    ),
    # Identifiers of instances and of what they reference: replaced consistently.
    **_all(
        "U",
        """StudyInstanceUID SeriesInstanceUID SOPInstanceUID FrameOfReferenceUID
        ReferencedSOPInstanceUID ReferencedFrameOfReferenceUID RelatedFrameOfReferenceUID
        SynchronizationFrameOfReferenceUID InstanceCreatorUID CreatorVersionUID DeviceUID
        DimensionOrganizationUID ConcatenationUID IrradiationEventUID TransactionUID
        PaletteColorLookupTableUID LargePaletteColorLookupTableUID StorageMediaFileSetUID
        TargetUID FiducialUID UID SpecimenUID ReferencedSOPInstanceUIDInFile""",
    ),
}

# Under the option these keep their value; the patient's birth date is not among them.
TEMPORAL: frozenset[str] = frozenset(
    str.split(
        """StudyDate StudyTime ContentDate ContentTime AcquisitionDate AcquisitionTime
    AcquisitionDateTime SeriesDate SeriesTime InstanceCreationDate InstanceCreationTime
    PerformedProcedureStepStartDate PerformedProcedureStepStartTime
    PerformedProcedureStepEndDate PerformedProcedureStepEndTime ScheduledProcedureStepStartDate
    ScheduledProcedureStepStartTime DateOfLastCalibration TimeOfLastCalibration
    DateOfSecondaryCapture TimeOfSecondaryCapture OverlayDate OverlayTime CurveDate CurveTime
    TimezoneOffsetFromUTC FrameAcquisitionDateTime FrameReferenceDateTime"""
    )
)
FILE_META_REMOVED = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "PrivateInformationCreatorUID",
    "PrivateInformation",
)


@dataclass(frozen=True)
class Options:
    """`salt` is secret per case: the same UID always maps to the same new UID in that case."""

    salt: str
    retain_dates: bool = False

    @property
    def pseudonym(self) -> str:
        return "SOP-" + hashlib.sha256(f"{self.salt}:patient".encode()).hexdigest()[:16].upper()

    def new_uid(self, old: str) -> str:
        """`2.25.` and a UUID (RFC 9562 version 8) made from a keyed hash of the old UID."""
        flavour = "dates" if self.retain_dates else "no-dates"
        message = f"{flavour}:{old}".encode()
        digest = bytearray(hmac.new(self.salt.encode(), message, hashlib.sha256).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: custom
        digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
        return f"2.25.{int.from_bytes(digest, 'big')}"


def action_for(element: DataElement, options: Options) -> Action:
    """The table's action, else the rule for the element's value representation."""
    keyword = element.keyword
    if not keyword:
        return "X"  # not in the data dictionary: nothing says it is harmless
    if keyword in BASIC_PROFILE:
        if options.retain_dates and keyword in TEMPORAL:
            return "K"
        return BASIC_PROFILE[keyword]
    if element.VR == "PN":
        return "Z"
    if element.VR in ("DA", "DT", "TM"):
        return "K" if options.retain_dates else "Z"
    if element.VR == "UI" and _is_instance_like(keyword, element.value):
        return "U"
    return "K"


def deidentify(ds: FileDataset, options: Options) -> list[str]:
    """Apply the profile to `ds` in place; returns warnings (PHI-free) for the caller."""
    warnings = []
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        warnings.append("burned-in annotation declared: the pixel data was not cleaned")
    ds.remove_private_tags()
    _apply(ds, options)
    ds.PatientIdentityRemoved = "YES"
    methods = [BASIC_PROFILE_CODE, *([RETAIN_DATES_CODE] if options.retain_dates else [])]
    ds.DeidentificationMethod = [meaning for _, meaning in methods]
    ds.DeidentificationMethodCodeSequence = [_code(value, meaning) for value, meaning in methods]
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if options.retain_dates else "REMOVED"
    for keyword in FILE_META_REMOVED:
        if keyword in ds.file_meta:
            delattr(ds.file_meta, keyword)
    if "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # The preamble is free for applications (some put a TIFF header there): cleared.
    ds.preamble = bytes(128)
    return warnings


def _apply(ds: Dataset, options: Options) -> None:
    for tag in list(ds.keys()):
        element = ds[tag]
        if _removed_by_rule(element.tag):
            del ds[tag]
            continue
        action = action_for(element, options)
        if action == "X":
            del ds[tag]
        elif action == "Z":
            element.value = [] if element.VR == "SQ" else ""
        elif action == "D":
            element.value = options.pseudonym if element.VR == "LO" else "ANONYMOUS"
        elif action == "U" and element.value:
            element.value = _replace_uids(element.value, options)
        elif element.VR == "SQ":
            for item in element.value:
                _apply(item, options)


def _removed_by_rule(tag: BaseTag) -> bool:
    group, number = tag.group, tag.element
    overlay_data_or_comments = group & 0xFF00 == 0x6000 and number in (0x3000, 0x4000)
    curve = group & 0xFF00 == 0x5000
    return number == 0x0000 or overlay_data_or_comments or curve


def _replace_uids(value: object, options: Options) -> str | list[str]:
    if isinstance(value, str):
        return options.new_uid(value)
    assert isinstance(value, Iterable)
    return [options.new_uid(str(v)) for v in value]


def _is_instance_like(keyword: str, value: object) -> bool:
    # Class, coding-scheme and transfer-syntax UIDs name kinds of things, not this patient's.
    if any(part in keyword for part in ("Class", "Coding", "TransferSyntax", "Context")):
        return False
    return bool(value) and not str(value).startswith(WELL_KNOWN_UID_ROOT)


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item
