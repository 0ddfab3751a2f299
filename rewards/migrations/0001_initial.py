"""The catalog, the stock ledger, redemptions and prize draws, moved from vouchers with their tables.

State only (database_operations=[]): the tables, their rows, constraints and the stock ledger's
append-only trigger were made by vouchers' migrations 0004 to 0010 and stay as they are
(`db_table = "vouchers_..."`); vouchers' 0011 took the five models out of its state. Then the
models' content types follow them (app label vouchers -> rewards), so their permissions, the
groups holding them and the admin's history stay attached.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MOVED = ["catalogitem", "stockmovement", "redemption", "redemptionline", "prizedraw"]


def content_types_to_rewards(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        # A rewards row already there (made by an earlier run's post_migrate) keeps its place.
        if not ContentType.objects.using(db).filter(app_label="rewards", model=model).exists():
            ContentType.objects.using(db).filter(app_label="vouchers", model=model).update(
                app_label="rewards"
            )


def content_types_to_vouchers(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="vouchers", model=model).exists():
            ContentType.objects.using(db).filter(app_label="rewards", model=model).update(
                app_label="vouchers"
            )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('vouchers', '0011_catalog_redemptions_prizes_to_rewards'),
        ('cmtracker', '0007_audit_failed_sign_ins'),
        ('patients', '0010_patient_message_style'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='CatalogItem',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200)),
                        ('description', models.TextField(blank=True, max_length=1000)),
                        ('category', models.CharField(choices=[('groceries', 'Groceries'), ('transport', 'Transport'), ('phone', 'Phone minutes'), ('clothing', 'Clothing'), ('hygiene', 'Personal care'), ('household', 'Household'), ('other', 'Other')], default='other', max_length=16)),
                        ('price_cents', models.PositiveIntegerField(help_text='What it costs in points (1 point = 1 cent), and what it is worth.')),
                        ('image', models.ImageField(blank=True, upload_to='catalog/')),
                        ('stock', models.IntegerField(blank=True, help_text='How many are in the cabinet; empty for unlimited.', null=True)),
                        ('low_stock_at', models.PositiveIntegerField(default=3, help_text='Warn administrators when stock falls to this number.')),
                        ('prize_tier', models.CharField(blank=True, choices=[('small', 'Small'), ('large', 'Large'), ('jumbo', 'Jumbo')], max_length=8)),
                        ('is_active', models.BooleanField(default=True, help_text='Retired items are not offered.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('clinic', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='catalog', to='cmtracker.clinic')),
                    ],
                    options={
                        'db_table': 'vouchers_catalogitem',
                        'ordering': ['category', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='PrizeDraw',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('tier', models.CharField(help_text='The bowl tier drawn, e.g. good job.', max_length=32)),
                        ('value_cents', models.PositiveIntegerField(default=0)),
                        ('capped', models.BooleanField(default=False, help_text='A higher tier was drawn but the cap left room only for this.')),
                        ('drawn_at', models.DateTimeField(auto_now_add=True)),
                        ('claimed_at', models.DateTimeField(blank=True, null=True)),
                        ('idempotency_key', models.CharField(blank=True, max_length=100, null=True)),
                        ('claimed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('claimed_item', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='rewards.catalogitem')),
                        ('drawn_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('enrollment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='prize_draws', to='patients.enrollment')),
                        ('key_clinic', models.ForeignKey(blank=True, editable=False, help_text='The clinic the idempotency key was sent at: keys are unique per clinic.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cmtracker.clinic')),
                        ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='prize_draws', to='patients.patient')),
                    ],
                    options={
                        'db_table': 'vouchers_prizedraw',
                        'ordering': ['drawn_at', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Redemption',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('requested', 'Requested'), ('approved', 'Approved'), ('declined', 'Declined'), ('cancelled', 'Cancelled'), ('handed_over', 'Handed over')], default='requested', max_length=16)),
                        ('total_cents', models.PositiveIntegerField()),
                        ('requested_at', models.DateTimeField(auto_now_add=True)),
                        ('decided_at', models.DateTimeField(blank=True, null=True)),
                        ('decision_reason', models.TextField(blank=True, max_length=500)),
                        ('handed_over_at', models.DateTimeField(blank=True, null=True)),
                        ('idempotency_key', models.CharField(blank=True, max_length=100, null=True)),
                        ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('handed_over_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('key_clinic', models.ForeignKey(blank=True, editable=False, help_text='The clinic the idempotency key was sent at: keys are unique per clinic.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cmtracker.clinic')),
                        ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='redemptions', to='patients.patient')),
                        ('requested_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'vouchers_redemption',
                        'ordering': ['-requested_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='RedemptionLine',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('quantity', models.PositiveIntegerField(default=1)),
                        ('price_cents', models.PositiveIntegerField(help_text="The item's price when requested.")),
                        ('item', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='rewards.catalogitem')),
                        ('redemption', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='rewards.redemption')),
                    ],
                    options={
                        'db_table': 'vouchers_redemptionline',
                    },
                ),
                migrations.CreateModel(
                    name='StockMovement',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('received', 'Received'), ('issued', 'Issued'), ('returned', 'Returned'), ('adjusted', 'Adjusted')], max_length=16)),
                        ('quantity', models.IntegerField(help_text='Positive into the cabinet, negative out of it.')),
                        ('reason', models.TextField(blank=True, max_length=500)),
                        ('at', models.DateTimeField(auto_now_add=True)),
                        ('by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('item', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='movements', to='rewards.catalogitem')),
                        ('prize_draw', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='movements', to='rewards.prizedraw')),
                        ('redemption', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='movements', to='rewards.redemption')),
                    ],
                    options={
                        'db_table': 'vouchers_stockmovement',
                        'ordering': ['at', 'id'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='catalogitem',
                    constraint=models.CheckConstraint(condition=models.Q(('stock__isnull', True), ('stock__gte', 0), _connector='OR'), name='catalog_stock_gte_0'),
                ),
                migrations.AddConstraint(
                    model_name='prizedraw',
                    constraint=models.UniqueConstraint(fields=('key_clinic', 'idempotency_key'), name='prize_draw_key_unique_per_clinic'),
                ),
                migrations.AddConstraint(
                    model_name='prizedraw',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('idempotency_key__isnull', True), ('key_clinic__isnull', True)), models.Q(('idempotency_key__isnull', False), ('key_clinic__isnull', False)), _connector='OR'), name='prize_draw_key_has_its_clinic'),
                ),
                migrations.AddConstraint(
                    model_name='redemption',
                    constraint=models.UniqueConstraint(fields=('key_clinic', 'idempotency_key'), name='redemption_key_unique_per_clinic'),
                ),
                migrations.AddConstraint(
                    model_name='redemption',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('idempotency_key__isnull', True), ('key_clinic__isnull', True)), models.Q(('idempotency_key__isnull', False), ('key_clinic__isnull', False)), _connector='OR'), name='redemption_key_has_its_clinic'),
                ),
                migrations.AddConstraint(
                    model_name='redemptionline',
                    constraint=models.CheckConstraint(condition=models.Q(('quantity__gte', 1)), name='redemption_line_quantity'),
                ),
                migrations.AddConstraint(
                    model_name='stockmovement',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind', 'adjusted'), _negated=True), models.Q(('reason', ''), _negated=True), _connector='OR'), name='stock_adjustment_needs_a_reason'),
                ),
            ],
        ),
        migrations.RunPython(content_types_to_rewards, content_types_to_vouchers),
    ]
