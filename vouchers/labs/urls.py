from django.urls import path

from vouchers.labs import views

urlpatterns = [
    path("import/lab-results/", views.LabImportView.as_view(), name="lab-import"),
    path(
        "import/lab-results/<int:pk>/",
        views.LabImportJobView.as_view(),
        name="lab-import-job",
    ),
]
