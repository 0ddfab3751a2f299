"""The Django admin, scoped to the clinics a person works at.

Two kinds of people use the admin:

- **platform operators** (Django superusers) run the installation: every clinic, the accounts,
  groups, API tokens, authenticator devices, sign-in lockouts and the beat schedule;
- **clinic administrators** (staff with model permissions, given through a group) see and change
  their own clinics' rows only, exactly the clinics the app's own pages give them
  (`User.clinic_ids`).

Every ModelAdmin says where its rows' clinic is (`clinic_path`), or is for operators only.
Another clinic's row is missing from the lists, its change page answers "doesn't exist" (a
redirect to the admin's index, as for a missing id) and it is never offered in a drop-down.
"""

from django.contrib import admin
from django.db.models import Q


def is_platform_operator(user) -> bool:
    return user.is_active and user.is_superuser


def in_clinics(request, queryset, clinic_path):
    """`queryset` cut down to the rows of `request.user`'s clinics (all of them, for operators)."""
    if is_platform_operator(request.user) or clinic_path is None:
        return queryset
    paths = (clinic_path,) if isinstance(clinic_path, str) else clinic_path
    clinics = request.user.clinic_ids if request.user.is_authenticated else []
    scope = Q(pk__in=[])
    for path in paths:
        scope |= Q(**{f"{path}__in": clinics})
    # Several paths go through to-many relations (a user's memberships) and can repeat a row.
    return queryset.filter(scope).distinct() if len(paths) > 1 else queryset.filter(scope)


class ScopedChoices:
    """Drop-downs (and raw-id fields) accept only rows the user may see in the admin."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            kwargs["queryset"] = choices_for(self.admin_site, request, db_field.related_model)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            kwargs["queryset"] = choices_for(self.admin_site, request, db_field.related_model)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ClinicScopedAdmin(ScopedChoices):
    """Rows of the user's clinics only (platform operators see all).

    `clinic_path`: the lookup from a row to its clinic ("patient__clinic"), or several, any of
    which may match (a correction belongs to a specimen or to a session). None: the rows are no
    clinic's, shared by all (protocols): clinic staff may read them and only operators change them.
    `operators_change`: clinic staff may read these rows but only operators add, change or delete
    them (accounts: the form sets passwords, groups and the superuser flag).
    """

    clinic_path: str | tuple[str, ...] | None = None
    operators_change = False

    def scoped(self, request, queryset):
        return in_clinics(request, queryset, self.clinic_path)

    def get_queryset(self, request):
        return self.scoped(request, super().get_queryset(request))

    def _in_scope(self, request, obj) -> bool:
        if obj is None or obj.pk is None or is_platform_operator(request.user):
            return True
        return self.scoped(request, type(obj)._default_manager.filter(pk=obj.pk)).exists()

    def _may_change(self, request) -> bool:
        if is_platform_operator(request.user):
            return True
        return not self.operators_change and self.clinic_path is not None

    def has_view_permission(self, request, obj=None):
        return self._in_scope(request, obj) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return self._may_change(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return (
            self._may_change(request)
            and self._in_scope(request, obj)
            and super().has_change_permission(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return (
            self._may_change(request)
            and self._in_scope(request, obj)
            and super().has_delete_permission(request, obj)
        )


class ClinicScopedInline(ScopedChoices):
    """An inline on a page the user may open already; it lists only its rows of the user's
    clinics (a counselor's memberships elsewhere are not this clinic's business)."""

    clinic_path: str | tuple[str, ...] | None = None

    def get_queryset(self, request):
        return in_clinics(request, super().get_queryset(request), self.clinic_path)


class PlatformOnlyAdmin:
    """Platform operators only: nobody else sees these pages, whatever permissions they hold."""

    def has_module_permission(self, request):
        return is_platform_operator(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_platform_operator(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_platform_operator(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_platform_operator(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_platform_operator(request.user) and super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if is_platform_operator(request.user) else queryset.none()


def choices_for(site, request, model):
    """What a drop-down to `model` may offer `request.user`: the rows that model's own admin
    shows them; nothing, for a model that is not clinic-scoped and not shared."""
    queryset = model._default_manager.all()
    if is_platform_operator(request.user):
        return queryset
    if site.is_registered(model):
        model_admin = site.get_model_admin(model)
        if isinstance(model_admin, ClinicScopedAdmin):
            return model_admin.scoped(request, queryset)
    return queryset.none()


def operators_only(*models) -> None:
    """Register the admins other apps made for `models` again, for platform operators only."""
    for model in models:
        model_admin = type(admin.site.get_model_admin(model))
        admin.site.unregister(model)
        admin.site.register(model, type(model_admin.__name__, (PlatformOnlyAdmin, model_admin), {}))
