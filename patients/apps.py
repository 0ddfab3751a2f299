from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"

    def ready(self):
        from cmtracker import audit
        from patients import models as m

        audit.register_patients(
            clinics=lambda ids: dict(
                m.Patient.objects.filter(pk__in=ids).values_list("pk", "clinic_id")
            ),
            of_user=lambda user: (
                m.Patient.objects.filter(user=user).values_list("clinic_id", "pk").first()
            ),
        )
        # (clinic id, patient id) of each record, for the audit log; no queries where avoidable.
        audit.register(m.Patient, lambda p: (p.clinic_id, p.pk))
        audit.register(m.Enrollment, lambda e: (None, e.patient_id))
        audit.register(m.Specimen, lambda s: (None, s.enrollment.patient_id))
        audit.register(m.SpecimenResult, lambda r: (None, r.specimen.enrollment.patient_id))
        audit.register(m.Attendance, lambda a: (None, a.enrollment.patient_id))
