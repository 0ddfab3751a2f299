from cmtracker.models import Membership


def roles(request):
    """What the navigation needs to know about the signed-in person."""
    user = getattr(request, "user", None)
    staff = bool(user and user.is_authenticated and user.is_staff_member)
    admin = staff and user.memberships.filter(role=Membership.Role.ADMIN).exists()
    return {"is_staff_member": staff, "is_clinic_admin": admin}
