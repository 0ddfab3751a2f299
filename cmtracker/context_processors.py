from cmtracker.models import Membership


def roles(request):
    """What the navigation needs to know about the signed-in person."""
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    roles = {role for _clinic, role in user.clinic_roles} if signed_in else set()
    return {
        "is_staff_member": bool(roles & set(Membership.CARE_ROLES)),
        "is_clinic_admin": Membership.Role.ADMIN in roles,
        "is_report_reader": bool(roles & set(Membership.REPORT_ROLES)),
    }
