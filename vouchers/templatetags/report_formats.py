"""The reports' numbers in words (vouchers.reports.formats): `{{ m.negative_samples|rate }}`
gives "62% (31 of 50)", and "—" when there was nothing to count."""

from django import template

from vouchers.reports import formats

register = template.Library()


@register.filter
def rate(ratio) -> str:
    return formats.ratio_text(ratio)


@register.filter
def mean(ratio) -> str:
    return formats.mean_text(ratio)


@register.filter
def count(value) -> str:
    return formats.count_text(value)


@register.filter
def duration(delta) -> str:
    return formats.duration_text(delta)


@register.filter
def cents(value) -> str:
    return formats.cents_text(value)


@register.filter
def cents_mean(ratio) -> str:
    return formats.cents_mean_text(ratio)
