"""Celery tasks for the outbox: they take ids, and the services in messaging.notifications decide.

Both are safe to run twice or at once: every send claims its row first. Neither retries itself
nor uses an ETA: a message that could not go waits in the outbox (`not_before`) for the sweep.
"""

from celery import shared_task

from messaging import notifications

# A batch is at most notifications.BATCH messages; the soft limit stops a stuck provider call
# well inside NOTIFICATION_CLAIM_LEASE, and what was not reached is released for the sweep.
SEND_SOFT_TIME_LIMIT = 120
SEND_TIME_LIMIT = 150


@shared_task(
    name=notifications.SEND_TASK, soft_time_limit=SEND_SOFT_TIME_LIMIT, time_limit=SEND_TIME_LIMIT
)
def notifications_send(ids: list[int]) -> int:
    """Send the messages queued by one transaction, right after it committed."""
    return notifications.notifications_send(ids=ids)


@shared_task(soft_time_limit=SEND_SOFT_TIME_LIMIT, time_limit=SEND_TIME_LIMIT)
def notifications_sweep() -> int:
    """Every minute (beat): send whatever is due and unsent."""
    return notifications.notifications_send_due()
