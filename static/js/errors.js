// @ts-check
// What each error code of the service means, in words a person can act on: both pages show
// these instead of the service's English detail. tests/app/test_page_strings.py fails when the
// service has a code that is missing here (or this table keeps one the service dropped).
// One entry a line: `Code: { zh: "...", en: "..." },`.

/**
 * The table's words for `code` in `lang`; null for a code it does not know.
 * @param {string} code
 * @param {string} lang
 * @returns {string | null}
 */
export function errorWords(code, lang) {
  if (!Object.prototype.hasOwnProperty.call(ERRORS, code)) return null;
  return lang === "en" ? ERRORS[code].en : ERRORS[code].zh;
}

/** @type {Record<string, { zh: string, en: string }>} */
export const ERRORS = {
  // ---- logging in and sessions
  NotAuthenticated: { zh: "登录已过期，请重新登录。", en: "Your login has ended. Please log in again." },
  InvalidToken: { zh: "登录已过期，请重新登录。", en: "Your login has ended. Please log in again." },
  InvalidRefreshToken: { zh: "登录已过期，请重新登录。", en: "Your login has ended. Please log in again." },
  InvalidCredentials: { zh: "用户名或密码不对。", en: "Wrong username or password." },
  OtpInvalid: { zh: "身份证号或验证码不对，或验证码已过期、已用完。请核对短信，或重新获取验证码。", en: "The ID number or the code is not right, or the code has expired or was used up. Please check the text message, or ask for a new code." },
  RateLimited: { zh: "操作太频繁，请过一会儿再试。", en: "Too many tries. Please wait a while and try again." },
  LoginBackoff: { zh: "密码连续输错，请等一会儿再试。", en: "Several wrong passwords in a row: wait a little and try again." },
  StaffAccountLocked: { zh: "密码输错次数太多，账号已锁定。请联系管理员解锁。", en: "Too many wrong passwords: this account is locked. Ask an administrator to unlock it." },
  PermissionDenied: { zh: "您没有做这件事的权限。", en: "Your account is not allowed to do this." },
  MetricsForbidden: { zh: "这台机器不能读取运行指标。", en: "This address may not read the service's metrics." },
  RegionOutOfScope: { zh: "这个地区不归您管理。", en: "This region is outside the regions you look after." },
  // ---- requests the service could not take
  BadRequest: { zh: "这次操作没有成功，请再试一次。", en: "This did not work. Please try again." },
  Invalid: { zh: "填写的内容有误，请检查后再试。", en: "Something in the form is not right. Please check it and try again." },
  ValidationError: { zh: "填写的内容有误，请检查后再试。", en: "Something in the form is not right. Please check it and try again." },
  NotFound: { zh: "没有找到要找的内容。", en: "Not found." },
  MethodNotAllowed: { zh: "这个操作不能这样做。", en: "This cannot be done this way." },
  HTTPError: { zh: "服务出了问题，请稍后再试。", en: "The service had a problem. Please try again later." },
  InternalError: { zh: "服务出了问题，请稍后再试。", en: "The service had a problem. Please try again later." },
  Conflict: { zh: "这件事已经有人处理过了，请刷新页面看看。", en: "This was already changed. Reload the page to see it." },
  PayloadTooLarge: { zh: "文件太大，请上传 10MB 以内的文件。", en: "The file is too large; upload one of at most 10 MB." },
  UnsupportedMediaType: { zh: "只能上传 PDF、JPG 或 PNG 文件。", en: "Only PDF, JPG or PNG files can be uploaded." },
  DatabaseUnavailable: { zh: "服务暂时不能使用，请稍后再试。", en: "The service is not available just now. Please try again later." },
  // ---- photos and certification attempts
  NotEnrolled: { zh: "您还没有登记照片，请联系社区工作人员登记，或选择其他认证方式。", en: "No photo of you is on file yet. Ask community staff to register one, or choose another way to certify." },
  AttemptNotFound: { zh: "没有找到这次认证，请重新开始。", en: "This certification was not found. Please start again." },
  ChallengeExpired: { zh: "时间到了（需在5分钟内完成），请重新开始。", en: "Time ran out (everything must be done within 5 minutes). Please start again." },
  ChallengeAlreadyUsed: { zh: "这次认证的视频已经上传过了，请重新开始一次。", en: "The video of this try was already sent. Please start again." },
  ChallengeMismatch: { zh: "上传的视频和这次认证对不上，请重新开始。", en: "The video does not belong to this try. Please start again." },
  AttemptsLockedOut: { zh: "最近几次没有成功，手机认证暂时关闭。请预约视频认证或请社区工作人员上门。", en: "The last few tries did not work, so certifying by phone is paused. Please book a video call or ask for a community visit." },
  PhotoQualityFailed: { zh: "这张照片不能用，请按提示调整后再拍一次。", en: "This photo cannot be used. Please adjust as shown and take it again." },
  NoUsableFace: { zh: "照片里找不到一张清楚的脸，请正对镜头，只拍一个人。", en: "No clear face was found. Face the camera, with only one person in the picture." },
  DuplicatePhoto: { zh: "这张照片已经登记过了。", en: "This photo is already on file." },
  FaceNotFound: { zh: "没有找到这张照片。", en: "This photo was not found." },
  FaceNotPending: { zh: "这张照片已经处理过了。", en: "This photo was already dealt with." },
  CalibrationRefused: { zh: "用这些设置不能完成校准。", en: "The calibration cannot be made with these settings." },
  // ---- photo and video files
  BiometricsError: { zh: "照片或视频不能处理，请重新拍摄。", en: "The photo or video cannot be processed. Please take it again." },
  ImageError: { zh: "照片打不开，请重新拍一张。", en: "The photo cannot be opened. Please take it again." },
  EmptyFile: { zh: "文件是空的，请重新拍摄或选择文件。", en: "The file is empty. Please take the picture again or choose another file." },
  FileTooLarge: { zh: "文件太大，请上传 10MB 以内的文件。", en: "The file is too large; upload one of at most 10 MB." },
  UnsupportedFormat: { zh: "这种照片格式不能用，请用 JPG 或 PNG。", en: "This picture format cannot be used; use JPG or PNG." },
  CorruptImage: { zh: "照片已损坏，请重新拍一张。", en: "The photo is damaged. Please take it again." },
  ImageTooLarge: { zh: "照片太大，请重新拍一张。", en: "The photo is too large. Please take it again." },
  ImageTooDense: { zh: "照片太大，请重新拍一张。", en: "The photo is too large. Please take it again." },
  ImageTooSmall: { zh: "照片太小、不清楚，请离近一点重新拍。", en: "The photo is too small to see clearly. Please come closer and take it again." },
  AnimatedImage: { zh: "请用一张普通照片，不要用动图。", en: "Please use an ordinary photo, not an animated one." },
  DecoderBusy: { zh: "现在处理的人太多，请过几秒钟再试。", en: "The service is busy. Please try again in a few seconds." },
  MatchingError: { zh: "照片比对没有成功，请工作人员核对。", en: "The photos could not be compared; staff will check them." },
  IncompatibleEmbeddings: { zh: "登记照片需要重新登记后才能比对。", en: "The photos on file must be enrolled again before they can be compared." },
  CohortTooSmall: { zh: "比对用的照片还不够，请工作人员核对。", en: "Too few photos to compare with; staff will check this one." },
  VideoError: { zh: "视频打不开，请重新录一次。", en: "The video cannot be opened. Please record it again." },
  NotAVideo: { zh: "这不是视频文件，请重新录一次。", en: "This is not a video. Please record it again." },
  EmptyVideo: { zh: "视频是空的，请重新录一次。", en: "The video is empty. Please record it again." },
  VideoFileTooLarge: { zh: "视频太大，请重新录一段短一点的。", en: "The video is too large. Please record a shorter one." },
  UnsupportedVideoCodec: { zh: "这种视频格式不能用，请换用手机自带的浏览器。", en: "This video format cannot be used. Please use the phone's own browser." },
  CorruptVideo: { zh: "视频已损坏，请重新录一次。", en: "The video is damaged. Please record it again." },
  TruncatedVideo: { zh: "视频没有传完整，请检查网络后重新录一次。", en: "The video did not arrive whole. Check the connection and record it again." },
  VideoTooShort: { zh: "视频太短，请跟着提示把动作做完。", en: "The video is too short. Please follow all the prompts." },
  VideoTooLong: { zh: "视频太长，请重新录一次。", en: "The video is too long. Please record it again." },
  VideoResolutionTooLarge: { zh: "视频画面太大，请换用手机自带的浏览器。", en: "The video picture is too large. Please use the phone's own browser." },
  VideoResolutionTooSmall: { zh: "视频画面太小、不清楚，请换一部手机或摄像头。", en: "The video picture is too small to see clearly. Please try another phone or camera." },
  FrameRateTooHigh: { zh: "视频格式不能用，请换用手机自带的浏览器。", en: "This video cannot be used. Please use the phone's own browser." },
  VideoDecodeTimeout: { zh: "视频处理时间太长，请重新录一段短一点的。", en: "The video took too long to read. Please record a shorter one." },
  // ---- video calls
  VideoCallNotOffered: { zh: "视频认证目前只提供给境外居住或手机认证未成功的人员。", en: "Video calls are offered to people living abroad or whose phone certification did not work." },
  AppointmentNotFound: { zh: "没有找到这个预约。", en: "This booking was not found." },
  VideoCallNotFound: { zh: "没有找到这个视频认证。", en: "This video call was not found." },
  SlotNotAvailable: { zh: "这个时间不能预约，请从列表里选一个时间。", en: "This time cannot be booked; pick one from the list." },
  SlotTaken: { zh: "这个时间刚被别人约了，请选另一个时间。", en: "Someone just took this time; please pick another." },
  AlreadyBooked: { zh: "您已经有一个预约了，可以改时间或取消。", en: "You already have a booking; you can change its time or cancel it." },
  TooLateToChange: { zh: "离开始太近，不能再改；如不能参加，请拨打 12333。", en: "Too close to the start to change; if you cannot come, call 12333." },
  AppointmentClosed: { zh: "这个预约已经取消、改期或已有结果。", en: "This booking was cancelled, moved or already has a result." },
  CallWindowNotOpen: { zh: "现在还不能进入，或者时间已过。", en: "You cannot join now: too early, or the time is over." },
  CallWindowClosed: { zh: "现在还不能进入，或者时间已过。", en: "You cannot join now: too early, or the time is over." },
  InvalidAvailability: { zh: "工作时间填写有误，请检查开始和结束时间。", en: "The working hours are not right; check the start and end times." },
  InvalidOutcome: { zh: "请先截取画面比对，或填写如何确认本人。", en: "Capture a frame first, or say how identity was confirmed." },
  UnknownTimeZone: { zh: "不认识这个时区，请从列表里选。", en: "Unknown time zone; pick one from the list." },
  // ---- consular certificates
  ConsularDocumentNotOffered: { zh: "领事馆证明只适用于登记为境外居住的人员。", en: "Consular certificates are only for people registered as living abroad." },
  ConsularDocumentNotFound: { zh: "没有找到这份证明。", en: "This certificate was not found." },
  ConsularDocumentPending: { zh: "上一份证明还在核对，请等结果出来。", en: "Your last certificate is still being checked; please wait for the result." },
  ConsularDocumentDecided: { zh: "这份证明已经核对过了。", en: "This certificate was already checked." },
  CorruptScan: { zh: "这个文件打不开或已损坏，请重新扫描或拍照后上传。", en: "This file cannot be opened or is damaged; please scan or photograph it again." },
  // ---- staff work: register, reviews, tasks
  PensionerNotFound: { zh: "没有找到这个人，或不在您管理的地区。", en: "This person was not found in your regions." },
  StaffNotFound: { zh: "没有找到这个工作人员账号。", en: "This staff account was not found." },
  RegionNotFound: { zh: "没有这个地区代码。", en: "No region has this code." },
  UnknownRegion: { zh: "没有这个地区代码，请先建立地区。", en: "No region has this code; create the region first." },
  DuplicateNationalId: { zh: "这个身份证号码已经登记过了。", en: "This ID number is already registered." },
  DuplicateUsername: { zh: "这个用户名已经有人用了。", en: "This username is taken." },
  DuplicateRegion: { zh: "这个地区代码已经有了。", en: "A region with this code exists already." },
  ReviewNotFound: { zh: "没有找到这条待核对记录。", en: "This review case was not found." },
  ReviewClosed: { zh: "这条记录已经有结论了。", en: "This case has already been decided." },
  VerificationTaskNotFound: { zh: "没有找到这个核查任务。", en: "This verification task was not found." },
  TaskNotOpen: { zh: "这个核查任务已经结束了。", en: "This verification task is already closed." },
  InvalidVisit: { zh: "走访记录填写有误，请检查后再试。", en: "The visit record is not right; check it and try again." },
  MediaError: { zh: "存档的文件读不出来，请联系管理员。", en: "The stored file cannot be read; contact an administrator." },
  MediaMissing: { zh: "存档的文件不见了，请联系管理员。", en: "The stored file is missing; contact an administrator." },
  MediaUnreadable: { zh: "存档的文件已损坏，请联系管理员。", en: "The stored file is damaged; contact an administrator." },
  MediaDeleted: { zh: "这个文件已过保存期限并已删除，记录还在。", en: "This file was deleted at the end of its keeping period; the record remains." },
  // ---- data comparison, feeds and overpayments
  ImportRejected: { zh: "文件里有错误的行，什么都没有导入。请看报告。", en: "The file has invalid rows; nothing was imported. See the report." },
  InvalidCsv: { zh: "文件读不出来，请检查格式。", en: "The file cannot be read; check its format." },
  InvalidFeed: { zh: "数据文件读不出来，请看详细说明。", en: "The data file cannot be read; see the details." },
  InvalidFeedKey: { zh: "数据接口密钥无效或已作废。", en: "The feed key is unknown or revoked." },
  BatchAlreadyImported: { zh: "这个文件已经导入过了。", en: "This file was already imported." },
  FeedBatchNotFound: { zh: "没有找到这批数据。", en: "This batch was not found." },
  FeedClientNotFound: { zh: "没有找到这个数据接口。", en: "This feed client was not found." },
  DuplicateFeedClient: { zh: "已经有同名的数据接口。", en: "A feed client with this name exists already." },
  FeedClientRevoked: { zh: "这个数据接口的密钥已经作废了。", en: "This feed client's key is revoked already." },
  HeldRecordNotFound: { zh: "没有找到这条待确认的死亡记录。", en: "This death record awaiting confirmation was not found." },
  HeldRecordDecided: { zh: "这条死亡记录已经确认或驳回了。", en: "This death record was confirmed or refused already." },
  MatchingRunNotFound: { zh: "没有找到这次数据比对。", en: "This matching run was not found." },
  CandidateNotFound: { zh: "没有找到这条疑似匹配记录。", en: "This match candidate was not found." },
  CandidateAlreadyDecided: { zh: "这条疑似匹配记录已经处理过了。", en: "This match candidate was already decided." },
  OverpaymentClaimNotFound: { zh: "没有找到这笔多发待遇的追回记录。", en: "This overpayment claim was not found." },
  InvalidRecoveryStep: { zh: "追回进度不能这样改。", en: "The recovery cannot move to this step." },
};
