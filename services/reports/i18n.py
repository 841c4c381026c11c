"""The fixed parts of a report in each language it is written in (English is the fallback)."""

from __future__ import annotations

from datetime import date

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Remote Second Opinion Report",
        "draft_banner": "DRAFT — not signed, not for the family",
        "case_reference": "Case reference",
        "report_version": "Report version",
        "issued": "Issued",
        "due": "Due",
        "patient": "Patient",
        "date_of_birth": "Date of birth",
        "referring_physician": "Established physician",
        "specialty": "Specialty",
        "reviewing_expert": "Reviewing expert",
        "co_authors": "Review board",
        "amendment": "Amendment",
        "amends": "This version amends version {n}. What changed:",
        "summary": "Summary of the case as reviewed",
        "records_reviewed": "Records reviewed",
        "imaging_studies": "Imaging studies",
        "no_records": "No records were listed.",
        "diagnosis": "Diagnosis review",
        "concordance": "Conclusion",
        "original_diagnosis": "Diagnosis as referred",
        "proposed_diagnosis": "Diagnosis proposed",
        "treatment": "Treatment recommendations",
        "plan_change": "Effect on the current plan",
        "trials": "Clinical trial options",
        "no_trials": "No clinical trial is suggested at this time.",
        "why_it_may_fit": "Why it may fit",
        "trials_note": "Eligibility is decided by each trial's team. Details: clinicaltrials.gov.",
        "questions": "Your questions answered",
        "question": "Question",
        "answer": "Answer",
        "limitations": "Records that were missing or of poor quality",
        "no_limitations": "The records received were sufficient for this review.",
        "missing": "missing",
        "poor-quality": "poor quality",
        "follow_up": "Suggested follow-up",
        "follow_up_questions": "Follow-up questions after the report",
        "signature": "Signed electronically by",
        "disclaimer_title": "Important",
        "disclaimer": (
            "This is a remote second opinion, given from a review of the medical records and "
            "images that were sent, without an in-person examination of the child, without "
            "observing the child's condition and without tests ordered to the reviewing "
            "physician's specifications. Facts that such an examination would reveal may change "
            "this opinion, and missing, incomplete, poorly translated or illegible records or "
            "poor-quality images limit it. It is advice for the child's care team, not a "
            "prescription: the treating physician and the family make every decision about "
            "the child's care together."
        ),
        "confidential": "Confidential medical information",
        "notice": (
            "A remote opinion from the records alone, without an in-person examination; "
            "the treating physician and the family decide. Please read \u201cImportant\u201d "
            "at the end."
        ),
        "specialty_neuro-oncology": "Neuro-oncology",
        "specialty_neurosurgery": "Neurosurgery",
        "specialty_oncology": "Oncology",
        "specialty_hematology": "Hematology",
        "specialty_cardiology": "Cardiology",
        "specialty_genetics": "Genetics",
        "page": "Page",
        "of": "of",
        "confirmed": "Diagnosis confirmed",
        "refined": "Diagnosis refined",
        "changed": "Diagnosis changed",
        "plan_none": "No change to the current plan",
        "plan_modified": "The current plan is modified",
        "plan_changed": "A different plan is recommended",
        # The FHIR DiagnosticReport's conclusion: "<concordance>: <diagnosis>; <plan>."
        "conclusion_confirmed": "The diagnosis is confirmed",
        "conclusion_refined": "The diagnosis is refined",
        "conclusion_changed": "The diagnosis is changed",
        "conclusion_plan_none": "no change to the current treatment plan",
        "conclusion_plan_modified": "the current treatment plan is modified",
        "conclusion_plan_changed": "a different treatment plan is recommended",
        "female": "female",
        "male": "male",
        "other": "other",
        "unknown": "unknown",
    },
    "es": {
        "title": "Informe de segunda opinión a distancia",
        "draft_banner": "BORRADOR — sin firmar, no apto para la familia",
        "case_reference": "Referencia del caso",
        "report_version": "Versión del informe",
        "issued": "Emitido",
        "due": "Vence",
        "patient": "Paciente",
        "date_of_birth": "Fecha de nacimiento",
        "referring_physician": "Médico tratante",
        "specialty": "Especialidad",
        "reviewing_expert": "Especialista revisor",
        "co_authors": "Comité de revisión",
        "amendment": "Enmienda",
        "amends": "Esta versión enmienda la versión {n}. Qué cambió:",
        "summary": "Resumen del caso revisado",
        "records_reviewed": "Documentos revisados",
        "imaging_studies": "Estudios de imagen",
        "no_records": "No se enumeraron documentos.",
        "diagnosis": "Revisión del diagnóstico",
        "concordance": "Conclusión",
        "original_diagnosis": "Diagnóstico de referencia",
        "proposed_diagnosis": "Diagnóstico propuesto",
        "treatment": "Recomendaciones de tratamiento",
        "plan_change": "Efecto sobre el plan actual",
        "trials": "Opciones de ensayos clínicos",
        "no_trials": "Por ahora no se sugiere ningún ensayo clínico.",
        "why_it_may_fit": "Por qué podría ser adecuado",
        "trials_note": (
            "La elegibilidad la decide el equipo de cada ensayo. Detalles: clinicaltrials.gov."
        ),
        "questions": "Respuestas a sus preguntas",
        "question": "Pregunta",
        "answer": "Respuesta",
        "limitations": "Documentos faltantes o de mala calidad",
        "no_limitations": "Los documentos recibidos fueron suficientes para esta revisión.",
        "missing": "faltante",
        "poor-quality": "mala calidad",
        "follow_up": "Seguimiento sugerido",
        "follow_up_questions": "Preguntas de seguimiento después del informe",
        "signature": "Firmado electrónicamente por",
        "disclaimer_title": "Importante",
        "disclaimer": (
            "Esta es una segunda opinión a distancia, basada en la revisión de los documentos "
            "médicos y las imágenes enviadas, sin un examen presencial del niño o la niña, sin "
            "observar su estado y sin pruebas realizadas según las indicaciones del médico "
            "revisor. Hechos que ese examen revelaría pueden cambiar esta opinión, y los "
            "documentos faltantes, incompletos, mal traducidos o ilegibles, o las imágenes de "
            "mala calidad, la limitan. Es un consejo para el equipo que atiende al niño o la "
            "niña, no una prescripción: el médico tratante y la familia toman juntos todas las "
            "decisiones sobre su atención."
        ),
        "confidential": "Información médica confidencial",
        "notice": (
            "Una opinión a distancia basada solo en los documentos, sin examen presencial; el "
            "médico tratante y la familia deciden. Lea \u201cImportante\u201d al final."
        ),
        "specialty_neuro-oncology": "Neurooncología",
        "specialty_neurosurgery": "Neurocirugía",
        "specialty_oncology": "Oncología",
        "specialty_hematology": "Hematología",
        "specialty_cardiology": "Cardiología",
        "specialty_genetics": "Genética",
        "page": "Página",
        "of": "de",
        "confirmed": "Diagnóstico confirmado",
        "refined": "Diagnóstico precisado",
        "changed": "Diagnóstico modificado",
        "plan_none": "Sin cambios en el plan actual",
        "plan_modified": "Se modifica el plan actual",
        "plan_changed": "Se recomienda un plan diferente",
        "conclusion_confirmed": "Se confirma el diagnóstico",
        "conclusion_refined": "Se precisa el diagnóstico",
        "conclusion_changed": "Se modifica el diagnóstico",
        "conclusion_plan_none": "sin cambios en el plan de tratamiento actual",
        "conclusion_plan_modified": "se modifica el plan de tratamiento actual",
        "conclusion_plan_changed": "se recomienda un plan de tratamiento diferente",
        "female": "femenino",
        "male": "masculino",
        "other": "otro",
        "unknown": "desconocido",
    },
}
LANGUAGES: tuple[str, ...] = tuple(LABELS)

_MONTHS = {
    "en": [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ],
    "es": [
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ],
}  # fmt: skip


def long_date(day: date, language: str) -> str:
    month = _MONTHS.get(language, _MONTHS["en"])[day.month - 1]
    if language == "es":
        return f"{day.day} de {month} de {day.year}"
    return f"{day.day} {month} {day.year}"
