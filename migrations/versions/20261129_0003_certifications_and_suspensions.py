"""certifications, suspensions, remote attempts and review cases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:01:21.905201

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('certification',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.Enum('data_comparison', 'remote_self_service', 'video_call', 'community_visit', 'home_visit', 'consular_document', name='certificationmethod', native_enum=False, length=32), nullable=False),
    sa.Column('certified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('decided_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('decided_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('operated_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_certification_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification'))
    )
    with op.batch_alter_table('certification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certification_certified_at'), ['certified_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_method'), ['method'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_pensioner_id'), ['pensioner_id'], unique=False)

    op.create_table('payment_suspension',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.Enum('death', 'certification_overdue', 'ineligible', 'fraud_suspected', name='suspensionreason', native_enum=False, length=32), nullable=False),
    sa.Column('suspended_from', sa.Date(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('resumed_on', sa.Date(), nullable=True),
    sa.Column('resume_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('back_pay_months', sa.Integer(), nullable=True),
    sa.Column('back_pay_fen', sa.Integer(), nullable=True),
    sa.Column('created_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_payment_suspension_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_suspension'))
    )
    with op.batch_alter_table('payment_suspension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_suspension_pensioner_id'), ['pensioner_id'], unique=False)

    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('certified_until', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_pensioner_certified_until'), ['certified_until'], unique=False)
    op.create_table('certification_attempt',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('awaiting_upload', 'processing', 'certified', 'needs_review', 'rejected', 'retry', 'expired', name='attemptstatus', native_enum=False, length=32), nullable=False),
    sa.Column('challenge_actions', sa.JSON(), nullable=False),
    sa.Column('challenge_nonce', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('challenge_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('challenge_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mirrored', sa.Boolean(), nullable=False),
    sa.Column('operated_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('client_address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('selfie_path', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('selfie_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('video_path', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('video_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('job_runs', sa.Integer(), nullable=False),
    sa.Column('job_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('certification_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['certification_id'], ['certification.id'], name=op.f('fk_certification_attempt_certification_id_certification')),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_certification_attempt_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification_attempt')),
    sa.UniqueConstraint('challenge_nonce', name=op.f('uq_certification_attempt_challenge_nonce'))
    )
    with op.batch_alter_table('certification_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certification_attempt_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_attempt_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_attempt_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_attempt_video_sha256'), ['video_sha256'], unique=False)

    op.create_table('review_case',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('attempt_id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('status', sa.Enum('open', 'awaiting_second_review', 'approved', 'rejected', 'new_attempt_requested', name='reviewstatus', native_enum=False, length=32), nullable=False),
    sa.Column('low_score', sa.Boolean(), nullable=False),
    sa.Column('first_approver_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('first_approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['certification_attempt.id'], name=op.f('fk_review_case_attempt_id_certification_attempt')),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_review_case_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_case')),
    sa.UniqueConstraint('attempt_id', name=op.f('uq_review_case_attempt_id'))
    )
    with op.batch_alter_table('review_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_case_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_case_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_case_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_case_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('review_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_case_status'))
        batch_op.drop_index(batch_op.f('ix_review_case_region_code'))
        batch_op.drop_index(batch_op.f('ix_review_case_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_review_case_created_at'))

    op.drop_table('review_case')
    with op.batch_alter_table('certification_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certification_attempt_video_sha256'))
        batch_op.drop_index(batch_op.f('ix_certification_attempt_status'))
        batch_op.drop_index(batch_op.f('ix_certification_attempt_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_certification_attempt_created_at'))

    op.drop_table('certification_attempt')
    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pensioner_certified_until'))
        batch_op.drop_column('certified_until')

    with op.batch_alter_table('payment_suspension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_suspension_pensioner_id'))

    op.drop_table('payment_suspension')
    with op.batch_alter_table('certification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certification_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_certification_method'))
        batch_op.drop_index(batch_op.f('ix_certification_certified_at'))

    op.drop_table('certification')
