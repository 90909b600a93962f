"""video calls: availability, appointments, reminders, call frames, consular certificates

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 15:57:15.745326

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('video_availability_exception',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('unavailable', 'extra', name='exceptionkind', native_enum=False, length=32), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=True),
    sa.Column('end_time', sa.Time(), nullable=True),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['staff_user.id'], name=op.f('fk_video_availability_exception_agent_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_video_availability_exception'))
    )
    with op.batch_alter_table('video_availability_exception', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_video_availability_exception_agent_id'), ['agent_id'], unique=False)

    op.create_table('video_availability_rule',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['staff_user.id'], name=op.f('fk_video_availability_rule_agent_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_video_availability_rule'))
    )
    with op.batch_alter_table('video_availability_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_video_availability_rule_agent_id'), ['agent_id'], unique=False)

    op.create_table('consular_document',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('status', sa.Enum('pending', 'verified', 'rejected', name='documentstatus', native_enum=False, length=32), nullable=False),
    sa.Column('file_path', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('file_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('file_format', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('file_bytes', sa.Integer(), nullable=False),
    sa.Column('consulate', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('certification_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['certification_id'], ['certification.id'], name=op.f('fk_consular_document_certification_id_certification')),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_consular_document_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consular_document'))
    )
    with op.batch_alter_table('consular_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consular_document_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consular_document_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_consular_document_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_consular_document_uploaded_at'), ['uploaded_at'], unique=False)

    op.create_table('video_appointment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('booked', 'cancelled', 'rescheduled', 'certified', 'not_certified', 'no_show', 'lapsed', name='appointmentstatus', native_enum=False, length=32), nullable=False),
    sa.Column('eligibility', sa.JSON(), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('rescheduled_from_id', sa.Uuid(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('read_codes', sa.JSON(), nullable=False),
    sa.Column('outcome_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('override_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('decided_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('certification_id', sa.Uuid(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['staff_user.id'], name=op.f('fk_video_appointment_agent_id_staff_user')),
    sa.ForeignKeyConstraint(['certification_id'], ['certification.id'], name=op.f('fk_video_appointment_certification_id_certification')),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_video_appointment_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_video_appointment'))
    )
    with op.batch_alter_table('video_appointment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_video_appointment_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_video_appointment_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_video_appointment_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_video_appointment_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_video_appointment_status'), ['status'], unique=False)
        batch_op.create_index('uq_video_appointment_agent_slot', ['agent_id', 'starts_at'], unique=True, sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.create_index('uq_video_appointment_pensioner_booked', ['pensioner_id'], unique=True, sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))

    op.create_table('video_appointment_reminder',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('day_before', 'hour_before', name='callreminderkind', native_enum=False, length=32), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['video_appointment.id'], name=op.f('fk_video_appointment_reminder_appointment_id_video_appointment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_video_appointment_reminder')),
    sa.UniqueConstraint('appointment_id', 'kind', name=op.f('uq_video_appointment_reminder_appointment_id'))
    )
    with op.batch_alter_table('video_appointment_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_video_appointment_reminder_appointment_id'), ['appointment_id'], unique=False)

    op.create_table('video_call_frame',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('distance', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('captured_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['video_appointment.id'], name=op.f('fk_video_call_frame_appointment_id_video_appointment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_video_call_frame'))
    )
    with op.batch_alter_table('video_call_frame', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_video_call_frame_appointment_id'), ['appointment_id'], unique=False)

    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display_timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.drop_column('display_timezone')

    with op.batch_alter_table('video_call_frame', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_video_call_frame_appointment_id'))

    op.drop_table('video_call_frame')
    with op.batch_alter_table('video_appointment_reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_video_appointment_reminder_appointment_id'))

    op.drop_table('video_appointment_reminder')
    with op.batch_alter_table('video_appointment', schema=None) as batch_op:
        batch_op.drop_index('uq_video_appointment_pensioner_booked', sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.drop_index('uq_video_appointment_agent_slot', sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.drop_index(batch_op.f('ix_video_appointment_status'))
        batch_op.drop_index(batch_op.f('ix_video_appointment_starts_at'))
        batch_op.drop_index(batch_op.f('ix_video_appointment_region_code'))
        batch_op.drop_index(batch_op.f('ix_video_appointment_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_video_appointment_agent_id'))

    op.drop_table('video_appointment')
    with op.batch_alter_table('consular_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consular_document_uploaded_at'))
        batch_op.drop_index(batch_op.f('ix_consular_document_status'))
        batch_op.drop_index(batch_op.f('ix_consular_document_region_code'))
        batch_op.drop_index(batch_op.f('ix_consular_document_pensioner_id'))

    op.drop_table('consular_document')
    with op.batch_alter_table('video_availability_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_video_availability_rule_agent_id'))

    op.drop_table('video_availability_rule')
    with op.batch_alter_table('video_availability_exception', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_video_availability_exception_agent_id'))

    op.drop_table('video_availability_exception')
