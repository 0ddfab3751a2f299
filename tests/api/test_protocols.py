import pytest

pytestmark = pytest.mark.django_db


def test_protocols_list_their_parameters_and_phases(api, counselor, higgins):
    response = api(counselor).get("/api/v1/protocols/?slug=higgins-1994&is_current=true")

    assert response.status_code == 200
    [protocol] = response.json()["results"]
    assert protocol["target_substances"] == ["cocaine"]
    [phase] = protocol["phases"]
    assert (phase["start_cents"], phase["increment_cents"]) == (250, 125)
    assert (phase["bonus_every"], phase["bonus_cents"], phase["recovery_after"]) == (3, 1000, 5)
