# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The reports of the loyalty programs: the points issued, redeemed and
expired in each period, the points outstanding and their value at the end of
each period, and the accounts by tier; set-based over the ledger, with their
XLSX export (crm_core's)"""
import datetime as dt

from sql import Literal, Union, Values, Window
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case, Coalesce

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.crm_core.dbtools import (
    PERIODS, numeric, period_start, period_starts)
from trytond.modules.crm_core.reporting import ReportingDatesMixin
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

# The most periods the liability over time shows: the last ones
MAX_PERIODS = 1000


class ReportingContext(ReportingDatesMixin, ModelView):
    __name__ = 'crm.loyalty.reporting.context'
    __string__ = "Loyalty Reporting Context"

    program = fields.Many2One(
        'crm.loyalty.program', "Program",
        domain=[('company', '=', Eval('company', -1))],
        help="Only this program; all the programs of the company when "
        "empty.")
    period = fields.Selection([
            ('day', "Day"),
            ('week', "Week"),
            ('month', "Month"),
            ('quarter', "Quarter"),
            ('year', "Year"),
            ], "Period", required=True)

    @classmethod
    def default_program(cls):
        return Transaction().context.get('program')

    @classmethod
    def default_period(cls):
        return Transaction().context.get('period', 'month')


class _Reporting(ModelSQL, ModelView):
    "The programs of the context's company (or its program)"

    company = fields.Many2One('company.company', "Company")
    program = fields.Many2One('crm.loyalty.program', "Program")

    # The fields exported to XLSX, in order
    _xlsx_fields = []
    _xlsx_date_format = 'yyyy-mm-dd'

    @classmethod
    def _program_where(cls, program):
        "The condition on the program table of the context"
        context = Transaction().context
        where = program.company == context.get('company', -1)
        if context.get('program'):
            where &= program.id == context['program']
        return where

    @classmethod
    def _period(cls):
        period = Transaction().context.get('period')
        return period if period in PERIODS else 'month'


class _PeriodReporting(_Reporting):
    "By the periods of the context too"

    date = fields.Date("Date")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('date', 'ASC'),
            ('program', 'ASC'),
            ('id', 'ASC'),
            ]


class Movement(_PeriodReporting):
    """The points of the ledger by program and period: issued, redeemed,
    expired, clawed back and taken by an adjustment."""
    __name__ = 'crm.loyalty.movement'
    __string__ = "Loyalty Points Movements"

    date = fields.Date("Date", help="The first day of the period.")
    issued = fields.Integer(
        "Issued",
        help="The points earned on invoices, for referrals and given by "
        "adjustments.")
    redeemed = fields.Integer("Redeemed")
    expired = fields.Integer("Expired")
    clawed_back = fields.Integer(
        "Clawed Back", help="The points taken back by credit notes.")
    deducted = fields.Integer(
        "Deducted", help="The points taken by adjustments.")
    net = fields.Integer(
        "Net", help="The issued less the redeemed, expired, clawed back and "
        "deducted points: how much the balances grew.")

    _xlsx_fields = [
        'date', 'program', 'issued', 'redeemed', 'expired', 'clawed_back',
        'deducted', 'net']

    @classmethod
    def table_query(cls):
        pool = Pool()
        Program = pool.get('crm.loyalty.program')
        Account = pool.get('crm.loyalty.account')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        context = Transaction().context
        program = Program.__table__()
        account = Account.__table__()
        line = LoyaltyTransaction.__table__()

        def total(condition, sign=1):
            return Sum(Case((condition, line.points * sign), else_=0))

        where = cls._program_where(program)
        if context.get('from_date'):
            where &= line.date >= context['from_date']
        if context.get('to_date'):
            where &= line.date <= context['to_date']
        gained = line.points > 0
        adjust = line.type == 'adjust'
        groups = {
            'company': line.company,
            'program': account.program,
            'date': cls.date.sql_cast(period_start(cls._period(), line.date)),
            }
        return line.join(account, condition=line.account == account.id
            ).join(program, condition=account.program == program.id
            ).select(
                Min(line.id).as_('id'),
                *(c.as_(n) for n, c in groups.items()),
                total(line.type.in_(['earn', 'referral'])
                    | (adjust & gained)).as_('issued'),
                total(line.type == 'redeem', -1).as_('redeemed'),
                total(line.type == 'expire', -1).as_('expired'),
                total(line.type == 'clawback', -1).as_('clawed_back'),
                total(adjust & ~gained, -1).as_('deducted'),
                Sum(line.points).as_('net'),
                where=where,
                # Group by the aliases: a parameter repeated in GROUP BY does
                # not match the one in the select list on PostgreSQL
                group_by=[c.as_(n) for n, c in groups.items()])


class LiabilityPeriod(_PeriodReporting):
    """The points outstanding at the end of each period by program and their
    value at the program's value of a point."""
    __name__ = 'crm.loyalty.liability.period'
    __string__ = "Loyalty Liability over Time"

    date = fields.Date(
        "Date", help="The last day of the period, or the To Date.")
    currency = fields.Many2One('currency.currency', "Currency")
    points = fields.Integer(
        "Points Outstanding",
        help="The points of the ledger at the end of the period.")
    value = Monetary(
        "Value Outstanding", currency='currency', digits='currency',
        help="The outstanding points at the program's point value.")

    _xlsx_fields = ['date', 'program', 'points', 'value', 'currency']

    @classmethod
    def _calendar(cls):
        """Return the (index, first day, last day) of the periods of the
        context: to its To Date (today when none) from its From Date (the
        first movement of the company when none)"""
        pool = Pool()
        Date = pool.get('ir.date')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        context = Transaction().context
        to_date = context.get('to_date') or Date.today()
        from_date = context.get('from_date')
        if not from_date:
            line = LoyaltyTransaction.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*line.select(Min(line.date),
                    where=line.company == context.get('company', -1)))
            from_date, = cursor.fetchone()
            if isinstance(from_date, str):
                from_date = dt.date.fromisoformat(from_date)
            from_date = min(from_date or to_date, to_date)
        starts = list(period_starts(cls._period(), from_date, to_date))
        starts = starts[-MAX_PERIODS:]
        ends = [s - dt.timedelta(days=1) for s in starts[1:]] + [to_date]
        return list(zip(range(len(starts)), starts, ends))

    @classmethod
    def table_query(cls):
        pool = Pool()
        Program = pool.get('crm.loyalty.program')
        Account = pool.get('crm.loyalty.account')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        program = Program.__table__()
        account = Account.__table__()
        line = LoyaltyTransaction.__table__()
        calendar = cls._calendar()
        (_, first, _), (_, _, last) = calendar[0], calendar[-1]
        period = Values(calendar)
        index, start, end = period.column1, period.column2, period.column3

        # The points of each program by period; those before the first
        # period count in it
        key = Case((line.date < first, first),
            else_=period_start(cls._period(), line.date))
        movement = line.join(account, condition=line.account == account.id
            ).select(
                account.program.as_('program'),
                key.as_('start'),
                Sum(line.points).as_('points'),
                where=line.date <= last,
                group_by=[account.program, key.as_('start')])

        # Every period of every program, with its movement when any
        periods = period.join(program, condition=Literal(True)
            ).join(movement, 'LEFT',
                condition=(movement.program == program.id)
                & (movement.start == start)
            ).select(
                (program.id * len(calendar) + index).as_('id'),
                program.company.as_('company'),
                program.id.as_('program'),
                program.currency.as_('currency'),
                program.point_value.as_('point_value'),
                start.as_('start'),
                end.as_('date'),
                Coalesce(movement.points, 0).as_('points'),
                where=cls._program_where(program))
        outstanding = Sum(periods.points,
            window=Window([periods.program], order_by=[periods.start.asc]))
        return periods.select(
            periods.id, periods.company, periods.program, periods.currency,
            cls.date.sql_cast(periods.date).as_('date'),
            # a sum of bigints is a numeric on PostgreSQL
            cls.points.sql_cast(outstanding).as_('points'),
            cls.value.sql_cast(
                outstanding * numeric(periods.point_value)).as_('value'))


class TierDistribution(_Reporting):
    """The active accounts of each program by tier, and their points, as the
    last evaluation of the tiers left them."""
    __name__ = 'crm.loyalty.tier.distribution'
    __string__ = "Loyalty Tier Distribution"

    tier = fields.Many2One('crm.loyalty.tier', "Tier")
    tier_name = fields.Function(fields.Char("Tier"), 'get_tier_name')
    accounts = fields.Integer("Accounts")
    balance = fields.Integer(
        "Points", help="The balance of the accounts.")

    _xlsx_fields = ['program', 'tier_name', 'accounts', 'balance']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('program', 'ASC'),
            ('tier.threshold', 'ASC NULLS FIRST'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Program = pool.get('crm.loyalty.program')
        Tier = pool.get('crm.loyalty.tier')
        Account = pool.get('crm.loyalty.account')
        program = Program.__table__()
        tier = Tier.__table__()
        account = Account.__table__()

        # The tiers of each program and "no tier", ids kept apart
        levels = Union(
            tier.select(
                (tier.id * 2).as_('id'), tier.program.as_('program'),
                tier.id.as_('tier')),
            program.select(
                (program.id * 2 + 1).as_('id'), program.id.as_('program'),
                cls.tier.sql_cast(Literal(None)).as_('tier')),
            all_=True)
        return levels.join(program, condition=levels.program == program.id
            ).join(account, 'LEFT',
                condition=(account.program == levels.program)
                & (Coalesce(account.tier, 0) == Coalesce(levels.tier, 0))
                & (account.active == Literal(True))
            ).select(
                levels.id, program.company.as_('company'),
                levels.program, levels.tier,
                Count(account.id).as_('accounts'),
                Coalesce(Sum(account.balance), 0).as_('balance'),
                where=cls._program_where(program)
                & (program.active == Literal(True)),
                group_by=[
                    levels.id, program.company, levels.program, levels.tier])

    def get_tier_name(self, name):
        if self.tier:
            return self.tier.rec_name
        return gettext('crm_loyalty.msg_reporting_no_tier',
            program=self.program.rec_name if self.program else '')
