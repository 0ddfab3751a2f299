from django.urls import path

from vouchers.views import lab_import

urlpatterns = [
    path("import/lab-results/", lab_import.LabImportView.as_view(), name="lab-import"),
    path(
        "import/lab-results/<int:pk>/",
        lab_import.LabImportJobView.as_view(),
        name="lab-import-job",
    ),
]
