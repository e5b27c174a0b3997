# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import logging
from collections import defaultdict

from sql.conditionals import Coalesce

from trytond import backend
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

logger = logging.getLogger(__name__)


class AssignmentTurnMixin:
    """A counter of round-robin turns that concurrent transactions share
    without lock nor write of a shared row

    On a database with sequences (PostgreSQL) each record has a database
    sequence of its own, created with the record (and for the existing ones
    when the module is updated), dropped with it: taking a turn is a
    NEXTVAL, atomic and outside of the transactions, so concurrent
    transactions take distinct turns without waiting for each other and
    never conflict; a transaction rolled back leaves its turns unused.
    Elsewhere (SQLite, whose writers are serialised) the counter is the
    ``assignment_turn`` column of the record."""
    __slots__ = ()

    assignment_turn = fields.Integer(
        "Assignment Turn", readonly=True,
        help="The turns taken, on a database without sequences.")

    @classmethod
    def default_assignment_turn(cls):
        return 0

    @classmethod
    def copy(cls, records, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('assignment_turn', 0)
        return super().copy(records, default=default)

    @classmethod
    def _turn_sequence_name(cls, id_):
        return '%s_turn_%s' % (cls._table, int(id_))

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        transaction = Transaction()
        if transaction.database.has_sequence():
            table = cls.__table__()
            cursor = transaction.connection.cursor()
            cursor.execute(*table.select(table.id))
            cls._turn_sequences_create([i for i, in cursor.fetchall()])

    @classmethod
    def _turn_sequences_create(cls, ids):
        transaction = Transaction()
        database = transaction.database
        connection = transaction.connection
        for id_ in ids:
            name = cls._turn_sequence_name(id_)
            if not database.sequence_exist(connection, name):
                database.sequence_create(connection, name)

    @classmethod
    def _turn_sequences_drop(cls, ids):
        cursor = Transaction().connection.cursor()
        for id_ in ids:
            cursor.execute(
                'DROP SEQUENCE IF EXISTS "%s"' % cls._turn_sequence_name(id_))

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        if Transaction().database.has_sequence():
            if mode == 'create':
                cls._turn_sequences_create([r.id for r in records])
            elif mode == 'delete':
                cls._turn_sequences_drop([r.id for r in records])

    @classmethod
    def take_turns(cls, counts):
        """Return {record: [turn, …]} with counts[record] new turns each

        The turns of a record are distinct integers from 0 on, increasing in
        the list; those of concurrent transactions interleave."""
        transaction = Transaction()
        database = transaction.database
        connection = transaction.connection
        cursor = connection.cursor()
        turns = {}
        for record, count in counts.items():
            if count <= 0:
                turns[record] = []
                continue
            if database.has_sequence():
                name = cls._turn_sequence_name(record.id)
                cursor.execute('SELECT to_regclass(%s)', (name,))
                if cursor.fetchone()[0] is not None:
                    turns[record] = [v - 1 for v in database.sequence_nextvals(
                            connection, name, count)]
                    continue
                # A record made behind the ORM's back: no turn is safe to
                # take, the caller starts from the first
                logger.warning("no sequence %s for the turns", name)
                turns[record] = list(range(count))
                continue
            table = cls.__table__()
            cursor.execute(*table.update(
                    [table.assignment_turn],
                    [Coalesce(table.assignment_turn, 0) + count],
                    where=table.id == record.id))
            cursor.execute(*table.select(
                    table.assignment_turn, where=table.id == record.id))
            last, = cursor.fetchone()
            turns[record] = list(range(last - count, last))
        return turns


class Team(AssignmentTurnMixin, DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.team'
    __string__ = "Sales Team"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    leader = fields.Many2One(
        'company.employee', "Leader",
        domain=[('company', '=', Eval('company', -1))])
    members = fields.One2Many('crm.team.member', 'team', "Members")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')


class Member(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.team.member'
    __string__ = "Sales Team Member"

    team = fields.Many2One(
        'crm.team', "Team", required=True, ondelete='CASCADE')
    employee = fields.Many2One(
        'company.employee', "Employee", required=True,
        domain=[('company', '=', Eval('company', -1))])
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    role = fields.Selection([
            ('salesperson', "Salesperson"),
            ('manager', "Manager"),
            ], "Role", required=True)
    capacity = fields.Integer(
        "Capacity",
        domain=['OR',
            ('capacity', '=', None),
            ('capacity', '>=', 0),
            ],
        help="The most open leads and opportunities the member handles "
        "at once; leave empty for no limit.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('team_employee_unique', Unique(t, t.team, t.employee),
                'crm_core.msg_team_member_unique'),
            ]

    @classmethod
    def default_role(cls):
        return 'salesperson'

    @fields.depends('team', '_parent_team.company')
    def on_change_with_company(self, name=None):
        return self.team.company if self.team else None

    @classmethod
    def search_company(cls, name, clause):
        return [('team.' + clause[0],) + tuple(clause[1:])]

    def get_rec_name(self, name):
        return self.employee.rec_name


class EmployeeTeamsMixin:
    """The sales teams of the record's employee

    Searching ``employee_teams.members.employee`` gives the records of the
    employees who share a team with the given ones: the record rules of the
    salespeople use it."""
    __slots__ = ()

    employee_teams = fields.Function(
        fields.Many2Many('crm.team', None, None, "Teams of the Employee"),
        'get_employee_teams', searcher='search_employee_teams')

    @classmethod
    def get_employee_teams(cls, records, name):
        pool = Pool()
        Member = pool.get('crm.team.member')
        teams = defaultdict(list)
        employees = list({r.employee.id for r in records if r.employee})
        with without_check_access():
            for sub_ids in grouped_slice(employees, backend.MAX_QUERY_PARAMS):
                for member in Member.search([
                            ('employee', 'in', list(sub_ids)),
                            ], order=[('team', 'ASC')]):
                    teams[member.employee.id].append(member.team.id)
        return {r.id: teams[r.employee.id] if r.employee else []
            for r in records}

    @classmethod
    def search_employee_teams(cls, name, clause):
        pool = Pool()
        Member = pool.get('crm.team.member')
        member = Member.__table__()
        nested = clause[0][len(name):]
        with without_check_access():
            query = Member.search(
                [('team' + nested,) + tuple(clause[1:])],
                order=[], query=True)
        return [('employee', 'in', member.select(
                    member.employee, where=member.id.in_(query)))]
