# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import re

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.model.exceptions import ValidationError

_COLOR = re.compile(r'^#[0-9a-fA-F]{6}$')


class Tag(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.tag'
    __string__ = "CRM Tag"

    name = fields.Char("Name", required=True, translate=True)
    color = fields.Char(
        "Color", help="The color of the tag as a hexadecimal code (#RRGGBB).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_color(cls):
        return '#999999'

    @classmethod
    def validate_fields(cls, tags, field_names):
        super().validate_fields(tags, field_names)
        if field_names is None or 'color' in field_names:
            for tag in tags:
                if tag.color and not _COLOR.match(tag.color):
                    raise ValidationError(gettext(
                            'crm_core.msg_tag_color_invalid',
                            tag=tag.rec_name, color=tag.color))
