from django import template

register = template.Library()


@register.filter
def dollars(cents) -> str:
    """Integer cents as "$1,234.50"; no float ever touches the money."""
    if cents is None or cents == "":
        return ""
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"
