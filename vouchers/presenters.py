"""How pages name things: shared by the view modules, so none imports another."""

from django.utils.translation import gettext as _


def person(user) -> str:
    if user is None:
        return _("System")
    return user.get_full_name() or user.username
