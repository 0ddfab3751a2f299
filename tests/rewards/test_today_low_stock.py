from rewards.catalog import catalog_item_create


def test_a_clinic_administrator_sees_low_stock_on_the_today_page(client, clinic, clinic_admin):
    catalog_item_create(
        clinic=clinic, name="Bus pass", price_cents=500, stock=2, actor=clinic_admin
    )
    client.force_login(clinic_admin)
    page = client.get("/today/").content.decode()
    assert "Running low in the reward cabinet" in page
    assert "Bus pass: 2 left" in page


def test_a_counselor_is_not_shown_the_stock_warning(client, clinic, counselor, clinic_admin):
    catalog_item_create(
        clinic=clinic, name="Bus pass", price_cents=500, stock=2, actor=clinic_admin
    )
    client.force_login(counselor)
    assert "Running low" not in client.get("/today/").content.decode()
