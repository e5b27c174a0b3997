# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Business calendars: the working hours in which the service levels count"""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.tools import timezone as tz
from trytond.transaction import Transaction

TIMEZONES = sorted((z, z) for z in tz.available_timezones())
WEEKDAYS = [
    ('0', "Monday"),
    ('1', "Tuesday"),
    ('2', "Wednesday"),
    ('3', "Thursday"),
    ('4', "Friday"),
    ('5', "Saturday"),
    ('6', "Sunday"),
    ]
MIDNIGHT = dt.time(0)
#: How far a deadline is looked for, in calendar days
HORIZON = 3 * 366


class BusinessCalendar(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.business.calendar'
    __string__ = "Business Calendar"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    timezone = fields.Selection(
        TIMEZONES, "Time Zone", required=True, translate=False,
        help="The working hours and the holidays are in this time zone.")
    intervals = fields.One2Many(
        'crm.business.calendar.interval', 'calendar', "Working Hours")
    holidays = fields.One2Many(
        'crm.business.calendar.holiday', 'calendar', "Holidays")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_timezone(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            company = Company(company)
            if company.timezone:
                return company.timezone
        return 'UTC'

    @classmethod
    def default_intervals(cls):
        """Working hours from the company's work time: the days of its week
        from 9:00 for the hours of its work day"""
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        day, week = 8, 40
        if company is not None and company >= 0:
            company = Company(company)
            day = company.hours_per_work_day or day
            week = company.hours_per_work_week or week
        days = max(1, min(7, round(week / day)))
        start = dt.time(9)
        end = (dt.datetime.combine(dt.date.min, start)
            + dt.timedelta(hours=min(day, 15))).time()
        return [{
                'weekday': str(weekday), 'start': start, 'end': end,
                } for weekday in range(days)]

    @classmethod
    def validate(cls, calendars):
        super().validate(calendars)
        for calendar in calendars:
            if calendar.active and not calendar.intervals:
                raise ValidationError(gettext(
                        'crm_service.msg_calendar_no_interval',
                        calendar=calendar.rec_name))

    def _zone(self):
        return tz.get_tzinfo(self.timezone)

    def _segments(self, start):
        """Yield the working segments (start, end) in naive UTC from the one
        containing or following start (a naive UTC datetime)"""
        zone = self._zone()
        holidays = {h.date for h in self.holidays}
        by_day = {}
        for interval in self.intervals:
            by_day.setdefault(int(interval.weekday), []).append(
                (interval.start, interval.end))
        for intervals in by_day.values():
            intervals.sort()
        local = start.replace(tzinfo=tz.UTC).astimezone(zone)
        day = local.date()
        for _ in range(HORIZON):
            if day not in holidays:
                for begin, end in by_day.get(day.weekday(), []):
                    # the absolute time of the local hours: a day of the
                    # change to summer time has an hour less
                    seg_start = _utc(dt.datetime.combine(day, begin), zone)
                    # 00:00 as the end is the midnight ending the day
                    seg_end = _utc(dt.datetime.combine(
                            day + dt.timedelta(days=1) if end == MIDNIGHT
                            else day, end), zone)
                    if seg_end > start and seg_end > seg_start:
                        yield max(seg_start, start), seg_end
            day += dt.timedelta(days=1)

    def add(self, start, duration):
        """Return the naive UTC datetime when duration of working time has
        passed since start (a naive UTC datetime)"""
        remaining = duration
        if remaining <= dt.timedelta(0):
            # the deadline of no time is the next working moment
            for seg_start, _ in self._segments(start):
                return _ceil_minute(seg_start)
        for seg_start, seg_end in self._segments(start):
            available = seg_end - seg_start
            if remaining <= available:
                return _ceil_minute(seg_start + remaining)
            remaining -= available
        raise ValidationError(gettext(
                'crm_service.msg_calendar_no_time', calendar=self.name))

    def between(self, start, end):
        "Return the working time between two naive UTC datetimes"
        total = dt.timedelta(0)
        if end <= start:
            return total
        for seg_start, seg_end in self._segments(start):
            if seg_start >= end:
                break
            total += min(seg_end, end) - seg_start
        return total


def _ceil_minute(value):
    "Return value rounded up to the minute: a deadline is shown so"
    if value.second or value.microsecond:
        value = value.replace(second=0, microsecond=0) + dt.timedelta(
            minutes=1)
    return value


def _utc(local, zone):
    "Return the naive UTC datetime of the naive local datetime in zone"
    return local.replace(tzinfo=zone).astimezone(tz.UTC).replace(tzinfo=None)


class BusinessCalendarInterval(ModelSQL, ModelView):
    __name__ = 'crm.business.calendar.interval'
    __string__ = "Business Calendar Interval"

    calendar = fields.Many2One(
        'crm.business.calendar', "Calendar", required=True,
        ondelete='CASCADE')
    weekday = fields.Selection(WEEKDAYS, "Day", required=True, sort=False)
    weekday_string = weekday.translated('weekday')
    start = fields.Time("From", required=True, format='%H:%M')
    end = fields.Time("To", required=True, format='%H:%M',
        help="00:00 for the end of the day.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('weekday', 'ASC'))
        cls._order.insert(1, ('start', 'ASC'))

    @classmethod
    def validate_fields(cls, intervals, field_names):
        super().validate_fields(intervals, field_names)
        for interval in intervals:
            if interval.end <= interval.start and interval.end != MIDNIGHT:
                raise ValidationError(gettext(
                        'crm_service.msg_calendar_interval_order',
                        calendar=interval.calendar.rec_name,
                        day=interval.weekday_string,
                        start=interval.start.strftime('%H:%M'),
                        end=interval.end.strftime('%H:%M')))


class BusinessCalendarHoliday(ModelSQL, ModelView):
    __name__ = 'crm.business.calendar.holiday'
    __string__ = "Business Calendar Holiday"

    calendar = fields.Many2One(
        'crm.business.calendar', "Calendar", required=True,
        ondelete='CASCADE')
    date = fields.Date("Date", required=True)
    name = fields.Char("Name", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('date', 'ASC'))
