"""The permission matrix, cell by cell, through the dispatcher.

The expected grid is written out here independently of ``roles.MATRIX``: a change to the
matrix must be made in both places, on purpose. Each cell sends a valid request as that
role and checks the answer: ``D`` -> forbidden (32) and one audit record, ``C`` ->
remote-bolus-off (33) by default and "awaiting confirmation" when enabled, ``A`` ->
anything but those (the pump may still refuse on its own grounds).
"""

import pytest

from proto_helpers import Harness
from secure_channel.protocol import roles
from secure_channel.protocol import schema as S

ROLES = ("patient", "clinician", "gateway", "service")

EXPECTED = """
status             A A A A
telemetry          A A A D
cgm_history        A A A D
delivery_records   A A A D
alarms             A A A A
bolus              C C D D
cancel_bolus       A A A D
temp_basal         A A A D
cancel_temp_basal  A A A D
suspend            A A A D
resume             A A A D
set_basal_program  D A D D
set_limits         D A D D
time_sync          A A A A
read_log           A A A A
begin_update       D D A A
image_chunk        D D A A
confirm_update     D D A A
cancel_update      D D A A
update_status      A A A A
install_update     D D A A
confirm_status     A A D D
service_reset      D D D A
cgm_reading        A A A D
"""

GRID = {}
for line in EXPECTED.strip().splitlines():
    command, *cells = line.split()
    for role, cell in zip(ROLES, cells):
        GRID[(command, role)] = cell

CELLS = sorted(GRID)


def test_grid_covers_every_command_and_role():
    assert {c for c, _ in GRID} == set(S.COMMANDS) == set(roles.MATRIX)
    assert roles.ROLES == ROLES


@pytest.mark.parametrize("command,role", CELLS)
def test_matrix_data_matches_the_grid(command, role):
    letter = {roles.ALLOW: "A", roles.DENY: "D", roles.CONFIRM: "C"}
    assert letter[roles.permission(role, command)] == GRID[(command, role)]


@pytest.mark.verifies("SC-ROLE-MATRIX")
@pytest.mark.parametrize("command,role", CELLS)
def test_dispatcher_enforces_the_cell(command, role):
    harness = Harness()
    reply = harness.ask(role, command)
    code = reply.fields.get("code") if reply.is_error else None
    cell = GRID[(command, role)]
    if cell == "D":
        assert code == S.FORBIDDEN
        assert harness.audit == [(command, "forbidden: role %s may not send %s"
                                  % (role, command))]
    elif cell == "C":
        assert code == S.REMOTE_BOLUS_OFF
        assert len(harness.audit) == 1
        enabled = Harness(remote_bolus=True)
        assert enabled.ask(role, command).fields == {"status": S.BOLUS_AWAITING}
    else:
        assert code not in (S.FORBIDDEN, S.REMOTE_BOLUS_OFF)


@pytest.mark.verifies("SC-ROLE-MATRIX")
@pytest.mark.parametrize("role", [None, "", "admin", "Clinician", b"clinician", 1, True])
def test_unknown_roles_may_do_nothing(role):
    harness = Harness()
    for command in S.COMMANDS:
        reply = harness.ask(role, command)
        assert reply.is_error and reply.fields["code"] == S.FORBIDDEN, command
    assert len(harness.audit) == len(S.COMMANDS)
    assert all("role unknown" in reason for _, reason in harness.audit)
