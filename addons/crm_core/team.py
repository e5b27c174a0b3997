# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pyson import Eval
from trytond.transaction import Transaction


class Team(DeactivableMixin, ModelSQL, ModelView):
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
