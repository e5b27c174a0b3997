# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Forecast and win/loss analysis of the pipeline, activity statistics, with
their XLSX export"""
import datetime as dt
import io
import re

from sql import Literal
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import DateTrunc

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.report import Report
from trytond.transaction import Transaction

from .team import EmployeeTeamsMixin

OPEN_STATES = ('lead', 'opportunity', 'converted')
CLOSED_STATES = ('won', 'lost')


class ReportingDatesMixin:
    """The company and the dates of a report's context, kept from the
    context it opens in; the reports of the other modules start from it"""
    __slots__ = ()

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date(
        "From Date",
        domain=[
            If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')),
                ()),
            ])
    to_date = fields.Date(
        "To Date",
        domain=[
            If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')),
                ()),
            ])

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_from_date(cls):
        return Transaction().context.get('from_date')

    @classmethod
    def default_to_date(cls):
        return Transaction().context.get('to_date')


class ReportingContext(ReportingDatesMixin, ModelView):
    __name__ = 'crm.reporting.context'
    __string__ = "CRM Reporting Context"

    team = fields.Many2One(
        'crm.team', "Team",
        domain=[('company', '=', Eval('company', -1))])
    employee = fields.Many2One(
        'company.employee', "Salesperson",
        domain=[('company', '=', Eval('company', -1))])

    @classmethod
    def default_team(cls):
        return Transaction().context.get('team')

    @classmethod
    def default_employee(cls):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        # A CRM manager reports on the whole company by default, a
        # salesperson on their own deals
        if ModelData.get_id('crm_core', 'group_crm_manager') in (
                User.get_groups()):
            return None
        return Transaction().context.get('employee')


class _Reporting(ModelSQL, ModelView):
    "Grouped opportunities filtered by the reporting context"

    company = fields.Many2One('company.company', "Company")
    currency = fields.Many2One('currency.currency', "Currency")
    team = fields.Many2One('crm.team', "Team")
    employee = fields.Many2One('company.employee', "Salesperson")
    number = fields.Integer("Number")

    # The fields exported to XLSX, in order
    _xlsx_fields = []

    @classmethod
    def _states(cls):
        raise NotImplementedError

    @classmethod
    def _date_column(cls, tables):
        "The date the context's from/to dates filter on"
        raise NotImplementedError

    @classmethod
    def _group_columns(cls, tables):
        "Return {name: column} of the grouping columns"
        opportunity = tables['opportunity']
        return {
            'company': opportunity.company,
            'currency': opportunity.currency,
            'team': opportunity.team,
            'employee': opportunity.employee,
            }

    @classmethod
    def _value_columns(cls, tables):
        return {'number': Count()}

    @classmethod
    def _from_item(cls, tables):
        return tables['opportunity']

    @classmethod
    def table_query(cls):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        context = Transaction().context
        opportunity = Opportunity.__table__()
        tables = {'opportunity': opportunity}
        from_item = cls._from_item(tables)
        groups = cls._group_columns(tables)

        where = ((opportunity.company == context.get('company', -1))
            & opportunity.state.in_(cls._states()))
        date = cls._date_column(tables)
        if context.get('from_date'):
            where &= date >= context['from_date']
        if context.get('to_date'):
            where &= date <= context['to_date']
        if context.get('team'):
            where &= opportunity.team == context['team']
        if context.get('employee'):
            where &= opportunity.employee == context['employee']

        columns = [Min(opportunity.id).as_('id')]
        columns += [c.as_(n) for n, c in groups.items()]
        columns += [c.as_(n) for n, c in cls._value_columns(tables).items()]
        # Group by the aliases: a parameter repeated in GROUP BY does not
        # match the one in the select list on PostgreSQL
        return from_item.select(*columns,
            where=where, group_by=[c.as_(n) for n, c in groups.items()])


class Forecast(_Reporting):
    """The open pipeline by expected closing month, team and salesperson,
    weighted by the conversion probability."""
    __name__ = 'crm.forecast'
    __string__ = "CRM Forecast"

    month = fields.Date("Month")
    amount = Monetary("Amount", currency='currency', digits='currency')
    weighted_amount = Monetary(
        "Weighted Amount", currency='currency', digits='currency')

    _xlsx_fields = [
        'month', 'team', 'employee', 'number', 'amount', 'weighted_amount',
        'currency']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('month', 'ASC NULLS LAST'),
            ('team', 'ASC'),
            ('employee', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def _states(cls):
        return OPEN_STATES

    @classmethod
    def _date_column(cls, tables):
        return tables['opportunity'].expected_closing

    @classmethod
    def _group_columns(cls, tables):
        return super()._group_columns(tables) | {
            'month': cls.month.sql_cast(
                DateTrunc('month', tables['opportunity'].expected_closing)),
            }

    @classmethod
    def _value_columns(cls, tables):
        opportunity = tables['opportunity']
        amount = Coalesce(opportunity.amount, Literal(0))
        return super()._value_columns(tables) | {
            'amount': Sum(amount),
            # The float probability turns the product into a float
            'weighted_amount': cls.weighted_amount.sql_cast(Sum(
                    amount * Coalesce(
                        opportunity.conversion_probability, Literal(0)))),
            }


class PipelineStage(_Reporting):
    """The open pipeline by stage, team and salesperson: how many
    opportunities and how much, weighted by the conversion probability."""
    __name__ = 'crm.pipeline.stage'
    __string__ = "CRM Pipeline by Stage"

    stage = fields.Many2One('crm.stage', "Stage")
    amount = Monetary("Amount", currency='currency', digits='currency')
    weighted_amount = Monetary(
        "Weighted Amount", currency='currency', digits='currency')

    _xlsx_fields = [
        'stage', 'team', 'employee', 'number', 'amount', 'weighted_amount',
        'currency']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.number.string = "Opportunities"
        cls._order = [
            ('stage', 'ASC'),
            ('team', 'ASC'),
            ('employee', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def _states(cls):
        return OPEN_STATES

    @classmethod
    def _date_column(cls, tables):
        return tables['opportunity'].expected_closing

    @classmethod
    def _group_columns(cls, tables):
        return super()._group_columns(tables) | {
            'stage': tables['opportunity'].stage,
            }

    @classmethod
    def _value_columns(cls, tables):
        opportunity = tables['opportunity']
        amount = Coalesce(opportunity.amount, Literal(0))
        return super()._value_columns(tables) | {
            'amount': Sum(amount),
            'weighted_amount': cls.weighted_amount.sql_cast(Sum(
                    amount * Coalesce(
                        opportunity.conversion_probability, Literal(0)))),
            }


class WinLoss(_Reporting):
    """The closed opportunities by lost reason, team and salesperson."""
    __name__ = 'crm.win_loss'
    __string__ = "CRM Win/Loss Analysis"

    lost_cause = fields.Many2One('crm.lost_reason', "Lost Reason")
    won = fields.Integer("Won")
    lost = fields.Integer("Lost")
    win_rate = fields.Function(
        fields.Float("Win Rate", digits=(1, 4)), 'get_win_rate')
    won_amount = Monetary(
        "Won Amount", currency='currency', digits='currency')
    lost_amount = Monetary(
        "Lost Amount", currency='currency', digits='currency')

    _xlsx_fields = [
        'team', 'employee', 'lost_cause', 'number', 'won', 'lost', 'win_rate',
        'won_amount', 'lost_amount', 'currency']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('number', 'DESC'), ('team', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _states(cls):
        return CLOSED_STATES

    @classmethod
    def _date_column(cls, tables):
        return tables['opportunity'].end_date

    @classmethod
    def _group_columns(cls, tables):
        return super()._group_columns(tables) | {
            'lost_cause': tables['opportunity'].lost_cause,
            }

    @classmethod
    def _value_columns(cls, tables):
        opportunity = tables['opportunity']
        amount = Coalesce(opportunity.amount, Literal(0))
        won = opportunity.state == 'won'
        return super()._value_columns(tables) | {
            'won': Sum(Case((won, Literal(1)), else_=Literal(0))),
            'lost': Sum(Case((won, Literal(0)), else_=Literal(1))),
            'won_amount': Sum(Case((won, amount), else_=Literal(0))),
            'lost_amount': Sum(Case((won, Literal(0)), else_=amount)),
            }

    def get_win_rate(self, name):
        if self.number:
            return self.won / self.number


class WinLossCompetitor(WinLoss):
    """The closed opportunities against each competitor, by lost reason."""
    __name__ = 'crm.win_loss.competitor'
    __string__ = "CRM Win/Loss by Competitor"

    competitor = fields.Many2One('crm.competitor', "Competitor")

    _xlsx_fields = ['competitor'] + WinLoss._xlsx_fields

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('competitor', 'ASC'))

    @classmethod
    def _from_item(cls, tables):
        pool = Pool()
        Relation = pool.get('sale.opportunity-crm.competitor')
        opportunity = tables['opportunity']
        tables['competitor'] = relation = Relation.__table__()
        return opportunity.join(relation,
            condition=relation.opportunity == opportunity.id)

    @classmethod
    def _group_columns(cls, tables):
        columns = super()._group_columns(tables)
        columns['competitor'] = tables['competitor'].competitor
        return columns


class WinLossSource(WinLoss):
    """The closed opportunities by the channel they came in through."""
    __name__ = 'crm.win_loss.source'
    __string__ = "CRM Win/Loss by Source"

    source = fields.Selection('get_sources', "Source")

    _xlsx_fields = ['source'] + WinLoss._xlsx_fields

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('source', 'ASC'))

    @classmethod
    def get_sources(cls):
        "The capture channels; the leads entered by hand have none"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        selection = Opportunity.fields_get(
            ['capture_channel'])['capture_channel']['selection']
        return [(None, gettext('crm_core.msg_win_loss_source_manual'))] + [
            (value, label) for value, label in selection if value]

    @classmethod
    def _group_columns(cls, tables):
        columns = super()._group_columns(tables)
        columns['source'] = tables['opportunity'].capture_channel
        return columns


class ActivityStatistics(EmployeeTeamsMixin, ModelSQL, ModelView):
    """The activities planned in the period by salesperson and type: how many
    are done, late, cancelled and done on time."""
    __name__ = 'crm.activity.statistics'
    __string__ = "CRM Activity Statistics"

    company = fields.Many2One('company.company', "Company")
    employee = fields.Many2One('company.employee', "Salesperson")
    type = fields.Many2One('crm.activity.type', "Type")
    number = fields.Integer("Number")
    planned = fields.Integer("Planned")
    done = fields.Integer("Done")
    cancelled = fields.Integer("Cancelled")
    overdue = fields.Integer(
        "Overdue", help="The planned activities that are late today.")
    done_on_time = fields.Integer(
        "Done on Time",
        help="The activities done by their deadline, or by the day they "
        "were planned for when they have no deadline.")
    done_on_time_rate = fields.Function(
        fields.Float("Done on Time Rate", digits=(1, 4)),
        'get_done_on_time_rate')

    _xlsx_fields = [
        'employee', 'type', 'number', 'planned', 'done', 'cancelled',
        'overdue', 'done_on_time', 'done_on_time_rate']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('employee', 'ASC NULLS LAST'),
            ('type', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Activity = pool.get('crm.activity')
        Member = pool.get('crm.team.member')
        context = Transaction().context
        activity = Activity.__table__()
        member = Member.__table__()

        where = activity.company == context.get('company', -1)
        if context.get('from_date'):
            where &= activity.planned_date >= dt.datetime.combine(
                context['from_date'], dt.time.min)
        if context.get('to_date'):
            where &= activity.planned_date < dt.datetime.combine(
                context['to_date'] + dt.timedelta(days=1), dt.time.min)
        if context.get('team'):
            where &= activity.employee.in_(member.select(member.employee,
                    where=(member.team == context['team'])
                    & (member.active == Literal(True))))
        if context.get('employee'):
            where &= activity.employee == context['employee']

        def count(condition):
            return Sum(Case((condition, Literal(1)), else_=Literal(0)))

        date = Activity.deadline.sql_cast
        done = activity.state == 'done'
        on_time = done & (date(activity.date_done) <= Coalesce(
                activity.deadline, date(activity.planned_date)))
        return activity.select(
            Min(activity.id).as_('id'),
            activity.company.as_('company'),
            activity.employee.as_('employee'),
            activity.type.as_('type'),
            Count(activity.id).as_('number'),
            count(activity.state == 'planned').as_('planned'),
            count(done).as_('done'),
            count(activity.state == 'cancelled').as_('cancelled'),
            count(Activity._overdue_clause(activity)).as_('overdue'),
            count(on_time).as_('done_on_time'),
            where=where,
            group_by=[activity.company, activity.employee, activity.type])

    def get_done_on_time_rate(self, name):
        if self.done:
            return self.done_on_time / self.done


class ReportingXLSX(Report):
    "Export the shown rows of a CRM report to a spreadsheet"
    __name__ = 'crm.reporting.xlsx'

    @classmethod
    def execute(cls, ids, data):
        pool = Pool()
        ActionReport = pool.get('ir.action.report')
        action_report, = ActionReport.search([
                ('report_name', '=', cls.__name__),
                ('model', '=', data.get('model')),
                ], limit=1)
        Model = pool.get(action_report.model)
        cls.check_access(action_report, action_report.model, ids)
        records = Model.browse(ids)
        return ('xlsx', cls.render_xlsx(Model, records), False,
            action_report.name)

    @classmethod
    def render_xlsx(cls, Model, records):
        import xlsxwriter

        fields_ = Model.fields_get(Model._xlsx_fields)
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {'in_memory': True})
        # Excel refuses some characters in sheet names (Win/Loss)
        sheet = workbook.add_worksheet(
            re.sub(r'[\[\]:*?/\\]', '-', Model.__string__)[:31])
        bold = workbook.add_format({'bold': True})
        # The month of the forecasts, the day of the helpdesk's periods
        date_format = workbook.add_format({
                'num_format': getattr(Model, '_xlsx_date_format', 'yyyy-mm')})
        datetime_format = workbook.add_format(
            {'num_format': 'yyyy-mm-dd hh:mm'})
        float_format = workbook.add_format({'num_format': '#,##0.0'})
        money_format = workbook.add_format({'num_format': '#,##0.00'})
        rate_format = workbook.add_format({'num_format': '0.0%'})
        for column, name in enumerate(Model._xlsx_fields):
            sheet.write(0, column, fields_[name]['string'], bold)
            sheet.set_column(column, column, 18)
        selections = {}
        for name, definition in fields_.items():
            if definition['type'] == 'selection':
                selection = definition['selection']
                if isinstance(selection, str):
                    selection = getattr(Model, selection)()
                selections[name] = selection
        for row, record in enumerate(records, 1):
            for column, name in enumerate(Model._xlsx_fields):
                value = getattr(record, name)
                type_ = fields_[name]['type']
                if type_ == 'selection':
                    value = dict(selections[name]).get(value, value)
                if value is None:
                    continue
                if type_ == 'many2one':
                    sheet.write_string(row, column, value.rec_name)
                elif type_ == 'date':
                    sheet.write_datetime(row, column, value, date_format)
                elif type_ == 'datetime':
                    sheet.write_datetime(row, column, value, datetime_format)
                elif type_ == 'numeric':
                    sheet.write_number(row, column, value, money_format)
                elif name.endswith('_rate'):
                    sheet.write_number(row, column, value, rate_format)
                elif type_ == 'float':
                    sheet.write_number(row, column, value, float_format)
                else:
                    sheet.write(row, column, value)
        workbook.close()
        return output.getvalue()
