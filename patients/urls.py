from django.urls import path

from patients import views

urlpatterns = [
    path("patients/", views.PatientListView.as_view(), name="patient-list"),
]
