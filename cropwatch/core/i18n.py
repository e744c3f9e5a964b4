"""Message catalogue: Vietnamese first, English second. Every user-facing string goes through ``t``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    # errors
    "not_found": {"vi": "Không tìm thấy {what}.", "en": "{what} not found."},
    "unauthorized": {"vi": "Chưa đăng nhập hoặc mã truy cập không hợp lệ.", "en": "Not signed in or invalid token."},
    "bad_credentials": {"vi": "Sai tên đăng nhập hoặc mật khẩu.", "en": "Wrong username or password."},
    "camera_token_invalid": {
        "vi": "Mã thiết bị camera không hợp lệ hoặc đã bị thu hồi.",
        "en": "Camera device token is invalid or revoked.",
    },
    "diary_type_land_prep": {"vi": "Làm đất", "en": "Land preparation"},
    "diary_type_sowing": {"vi": "Gieo hạt", "en": "Sowing"},
    "diary_type_transplanting": {"vi": "Cấy / trồng", "en": "Transplanting"},
    "diary_type_tilling": {"vi": "Xới đất", "en": "Tilling"},
    "diary_type_fertilizing": {"vi": "Bón phân", "en": "Fertilizing"},
    "diary_type_irrigation": {"vi": "Tưới nước", "en": "Irrigation"},
    "diary_type_pruning": {"vi": "Tỉa cành", "en": "Pruning"},
    "diary_type_pest_control": {"vi": "Phòng trừ sâu bệnh", "en": "Pest control"},
    "diary_type_observation": {"vi": "Quan sát", "en": "Observation"},
    "diary_type_harvest": {"vi": "Thu hoạch", "en": "Harvest"},
    "diary_type_other": {"vi": "Khác", "en": "Other"},
    "diary_status_pending": {"vi": "Chờ xác nhận", "en": "Pending"},
    "diary_status_done": {"vi": "Đã thực hiện", "en": "Done"},
    "diary_source_manual": {"vi": "Ghi tay", "en": "Manual"},
    "diary_source_automatic": {"vi": "Tự động", "en": "Automatic"},
    # the fields of a diary entry, as its revision history names them
    "diary_field_plot_id": {"vi": "Lô (mã)", "en": "Plot (id)"},
    "diary_field_occurred_at": {"vi": "Thời gian", "en": "When"},
    "diary_field_type": {"vi": "Công việc", "en": "Work"},
    "diary_field_status": {"vi": "Trạng thái", "en": "Status"},
    "diary_field_source": {"vi": "Nguồn", "en": "Source"},
    "diary_field_title": {"vi": "Tiêu đề", "en": "Title"},
    "diary_field_notes": {"vi": "Ghi chú", "en": "Notes"},
    "diary_field_quantity_value": {"vi": "Số lượng", "en": "Quantity"},
    "diary_field_quantity_unit": {"vi": "Đơn vị", "en": "Unit"},
    "diary_field_product_name": {"vi": "Tên thuốc / phân bón", "en": "Product"},
    "diary_field_registration_no": {"vi": "Số đăng ký", "en": "Registration no."},
    "diary_field_active_ingredient": {"vi": "Hoạt chất", "en": "Active ingredient"},
    "diary_field_dose": {"vi": "Liều lượng", "en": "Dose"},
    "diary_field_treated_area_m2": {"vi": "Diện tích xử lý (m²)", "en": "Treated area (m²)"},
    "diary_field_operator": {"vi": "Người thực hiện", "en": "Operator"},
    "diary_field_phi_days": {"vi": "Thời gian cách ly (ngày)", "en": "Pre-harvest interval (days)"},
    "diary_field_photo_keys": {"vi": "Ảnh", "en": "Photos"},
    "diary_field_capture_id": {"vi": "Ảnh camera (mã)", "en": "Camera photo (id)"},
    "diary_field_alert_id": {"vi": "Cảnh báo (mã)", "en": "Alert (id)"},
    "diary_field_detection_ids": {"vi": "Phát hiện làm bằng chứng", "en": "Detections as evidence"},
    "diary_field_deleted_at": {"vi": "Đã xoá lúc", "en": "Deleted at"},
    "diary_field_subject": {"vi": "Đối tượng", "en": "Subject"},
    "diary_field_title_en": {"vi": "Tiêu đề tiếng Anh", "en": "English title"},
    "diary_n_photos": {"vi": "{n} ảnh", "en": "{n} photos", "en_one": "{n} photo"},
    "diary_photos_changed": {"vi": "gỡ {removed}, thêm {added}", "en": "{removed} removed, {added} added"},
    "diary_n_detections": {"vi": "{n} phát hiện", "en": "{n} detections", "en_one": "{n} detection"},
    "diary_by_system": {"vi": "hệ thống", "en": "the system"},
    "diary_entry_empty": {
        "vi": "Mục nhật ký đang trống: hãy ghi tiêu đề, ghi chú, số lượng hoặc tên thuốc/phân bón, hoặc chụp một ảnh.",
        "en": "The diary entry is empty: write a title, notes, a quantity or a product, or add a photo.",
    },
    "diary_automatic_locked": {
        "vi": "Quan sát tự động do hệ thống ghi từ ảnh camera, không sửa hay xoá được; hãy "
        "xác nhận hoặc nhờ kỹ sư duyệt ảnh.",
        "en": "Automatic observations are written by the system from camera photos and cannot "
        "be edited or deleted; confirm it, or ask an agronomist to review the photo.",
    },
    "diary_entry_deleted": {
        "vi": "Mục nhật ký này đã bị xoá, không thay đổi được nữa.",
        "en": "This diary entry was deleted and can no longer be changed.",
    },
    "phi_active": {
        "vi": "Chưa hết thời gian cách ly của {product} (phun ngày {sprayed}, cách ly {days} ngày): chỉ được thu hoạch từ ngày {ends}.",
        "en": "The pre-harvest interval of {product} (sprayed {sprayed}, {days} days) is still running: harvest allowed from {ends}.",
    },
    "lot_harvest_title": {"vi": "Thu hoạch {qty} {unit}", "en": "Harvest {qty} {unit}"},
    "lot_public_title": {"vi": "Truy xuất nguồn gốc lô hàng", "en": "Harvest lot traceability"},
    "alert_harvest": {
        "vi": "{plot}: {share}% quả đã chín ({total} quả đếm được). Dự kiến đạt {target}% chín sau {eta}.",
        "en": "{plot}: {share}% of fruit ripe ({total} counted). {target}% ripe expected in {eta}.",
    },
    "alert_trend": {"vi": "Tăng {pct}% so với hôm qua ({before}).", "en": "Up {pct}% on yesterday ({before})."},
    "alert_seasonal": {
        "vi": "{level}: {pest} trên {plot} — trung bình {count} {unit} tuần này (đến {date}), cao hơn mức thường gặp "
        "{median}: trung vị cùng tuần của {seasons} mùa trước{scope}.",
        "en": "{level}: {pest} on {plot} — {count} {unit} on average this week (to {date}), above the usual {median}: "
        "the median of the same week in {seasons} earlier seasons{scope}.",
    },
    "seasonal_scope_plot": {"vi": " của lô", "en": " of the plot"},
    "seasonal_scope_cooperative": {
        "vi": " của các lô cùng cây trồng trong hợp tác xã (lô chưa có mùa trước)",
        "en": " of the cooperative's plots of the crop (the plot has no earlier season)",
    },
    "alert_silent": {
        "vi": "Camera {camera} (lô {plot}) không gửi ảnh từ {since} (quá {hours} giờ): kiểm tra nguồn điện và mạng.",
        "en": "Camera {camera} (plot {plot}) has sent nothing since {since} (over {hours} h): check its power and network.",
    },
    "export_bad_period": {
        "vi": "Khoảng thời gian không hợp lệ (tối đa 3 năm).",
        "en": "Invalid period (3 years at most).",
    },
    "export_bad_format": {"vi": "Định dạng phải là pdf, csv hoặc xlsx.", "en": "Format must be pdf, csv or xlsx."},
    # diary exports (CSV/XLSX columns, the PDF's header and table)
    "export_col_date": {"vi": "Ngày", "en": "Date"},
    "export_col_type": {"vi": "Công việc", "en": "Work"},
    "export_col_status": {"vi": "Trạng thái", "en": "Status"},
    "export_col_title": {"vi": "Nội dung", "en": "Title"},
    "export_col_product_name": {"vi": "Tên thuốc/phân", "en": "Product"},
    "export_col_registration_no": {"vi": "Số đăng ký", "en": "Registration no."},
    "export_col_active_ingredient": {"vi": "Hoạt chất", "en": "Active ingredient"},
    "export_col_dose": {"vi": "Liều lượng", "en": "Dose"},
    "export_col_treated_area_m2": {"vi": "Diện tích xử lý (m²)", "en": "Treated area (m²)"},
    "export_col_phi_days": {"vi": "Thời gian cách ly (ngày)", "en": "Pre-harvest interval (days)"},
    "export_col_quantity": {"vi": "Số lượng", "en": "Quantity"},
    "export_col_operator": {"vi": "Người thực hiện", "en": "Operator"},
    "export_col_notes": {"vi": "Ghi chú", "en": "Notes"},
    "export_col_source": {"vi": "Nguồn", "en": "Source"},
    "export_col_deleted": {"vi": "Đã xoá", "en": "Deleted"},
    "export_col_changes": {"vi": "Số lần sửa", "en": "Changes"},
    "export_col_last_change": {"vi": "Sửa lần cuối", "en": "Last change"},
    "export_pdf_col_date": {"vi": "Ngày", "en": "Date"},
    "export_pdf_col_type": {"vi": "Công việc", "en": "Work"},
    "export_pdf_col_status": {"vi": "Trạng thái", "en": "Status"},
    "export_pdf_col_title": {"vi": "Nội dung", "en": "Title"},
    "export_pdf_col_product_name": {"vi": "Tên thuốc/phân", "en": "Product"},
    "export_pdf_col_registration_no": {"vi": "Số ĐK", "en": "Reg. no."},
    "export_pdf_col_active_ingredient": {"vi": "Hoạt chất", "en": "Active ingr."},
    "export_pdf_col_dose": {"vi": "Liều", "en": "Dose"},
    "export_pdf_col_phi_days": {"vi": "Cách ly", "en": "PHI"},
    "export_pdf_col_quantity": {"vi": "Số lượng", "en": "Quantity"},
    "export_pdf_col_changes": {"vi": "Sửa đổi", "en": "Changes"},
    "export_pdf_col_operator": {"vi": "Người thực hiện", "en": "Operator"},
    "export_deleted_at": {"vi": "{when} bởi {who}", "en": "{when} by {who}"},
    "export_reason": {"vi": "; lý do: {reason}", "en": "; reason: {reason}"},
    "export_deleted_mark": {"vi": "[ĐÃ XOÁ {what}]", "en": "[DELETED {what}]"},
    "export_changes": {
        "vi": "Sửa {n} lần, gần nhất {last}",
        "en": "Changed {n} times, last {last}",
        "en_one": "Changed once, last {last}",
    },
    "export_sheet": {"vi": "Nhật ký", "en": "Diary"},
    "export_title_plot": {"vi": "Nhật ký canh tác — {plot}", "en": "Cultivation diary — {plot}"},
    "export_pdf_title": {"vi": "NHẬT KÝ CANH TÁC (VietGAP)", "en": "CULTIVATION DIARY (VietGAP)"},
    "export_pdf_coop": {"vi": "Hợp tác xã: {name}", "en": "Cooperative: {name}"},
    "export_pdf_plot": {
        "vi": "Lô: {plot}   Cây trồng: {crop}   Mã vùng trồng: {code}",
        "en": "Plot: {plot}   Crop: {crop}   Growing-area code: {code}",
    },
    "export_pdf_period": {
        "vi": "Thời gian: {since} – {until}   Số mục: {n} (đã xoá: {deleted})",
        "en": "Period: {since} – {until}   Entries: {n} (deleted: {deleted})",
    },
    "export_pdf_photos": {"vi": "Ảnh minh chứng", "en": "Evidence photos"},
    "digest_title": {  # quiet hours, a daily digest or a daily cap held them: the message does not guess which
        "vi": "Tóm tắt {n} cảnh báo chưa gửi:",
        "en": "Digest of {n} alerts not sent yet:",
        "en_one": "Digest of {n} alert not sent yet:",
    },
    "review_bad_box": {
        "vi": "Khung không hợp lệ: cần x1 < x2, y1 < y2 và nằm trong ảnh.",
        "en": "Invalid box: x1 < x2 and y1 < y2 are needed, inside the image.",
    },
    "review_unknown_class": {
        "vi": "Loài '{name}' không có trong mô hình (các loài: {known}).",
        "en": "Class '{name}' is not in the model (classes: {known}).",
    },
    "dataset_empty": {
        "vi": "Không có ảnh đã được kỹ sư duyệt phù hợp với bộ lọc.",
        "en": "No reviewed captures match the filters.",
    },
    "dataset_needs_crop": {
        "vi": "Chọn cây trồng cho bộ dữ liệu: có nhiều mô hình đang dùng (mỗi bộ dữ liệu thuộc một mô hình, theo lớp "
        "của nó). Cây trồng có mô hình riêng: {crops}.",
        "en": "Choose the dataset's crop: several production models serve this task (a dataset belongs to one "
        "model, with its classes). Crops with a model of their own: {crops}.",
    },
    "no_production_model": {
        "vi": "Chưa có mô hình đang dùng cho nhiệm vụ {task}.",
        "en": "There is no production model for task {task}.",
    },
    "training_refused": {"vi": "Không thể tạo lượt huấn luyện: {reason}", "en": "Training run refused: {reason}"},
    "broker_unavailable": {
        "vi": "Hàng đợi tạm thời không truy cập được; lượt huấn luyện vẫn được giữ.",
        "en": "The queue is unavailable right now; the training run is kept.",
    },
    "gate_refused": {
        "vi": "Mô hình mới (mAP50 {candidate}) không qua cổng kiểm tra: kém hơn mô hình đang dùng "
        "({production}) hoặc dưới mức tối thiểu {floor}; cần ghi lý do để vẫn đưa vào sử dụng.",
        "en": "The candidate (mAP50 {candidate}) does not pass the gate: worse than production "
        "({production}) or below the minimum of {floor}; give a reason to promote it anyway.",
    },
    "shared_model_forbidden": {
        "vi": "Mô hình dùng chung cho mọi hợp tác xã chỉ do nhóm học máy của hệ thống thay "
        "đổi; hãy huấn luyện mô hình riêng của hợp tác xã.",
        "en": "Shared models are changed only by the installation's ML staff; train a model "
        "of your own cooperative instead.",
    },
    "body_too_large": {
        "vi": "Dữ liệu gửi lên quá lớn (tối đa {limit_mb} MB).",
        "en": "The request body is too large (at most {limit_mb} MB).",
    },
    "bad_content_length": {"vi": "Độ dài dữ liệu (Content-Length) không hợp lệ.", "en": "Invalid Content-Length."},
    "diary_too_many_photos": {
        "vi": "Mỗi mục nhật ký có tối đa {limit} ảnh.",
        "en": "A diary entry holds at most {limit} photos.",
    },
    "union_aggregates_only": {
        "vi": "Quản trị liên minh chỉ xem số liệu tổng hợp, không xem ảnh và nhật ký của thành viên.",
        "en": "The union admin sees aggregates, not members' photos and diary entries.",
    },
    "channel_invalid": {
        "vi": "Cấu hình kênh thông báo không hợp lệ: {reason}",
        "en": "Invalid notification channel settings: {reason}",
    },
    "too_many_channels": {
        "vi": "Hợp tác xã đã có tối đa {limit} kênh thông báo; hãy tắt bớt một kênh.",
        "en": "The cooperative already has the maximum of {limit} channels; disable one first.",
    },
    "shadow_refused": {"vi": "Không thể chạy thử song song: {reason}", "en": "Shadow mode refused: {reason}"},
    "rollback_refused": {
        "vi": "Không thể quay lại phiên bản này: {reason}",
        "en": "Cannot roll back to this version: {reason}",
    },
    "review_bad_action": {
        "vi": "Thao tác duyệt không hợp lệ (các thao tác: {actions}).",
        "en": "Unknown review action (actions: {actions}).",
    },
    "gtin_invalid": {
        "vi": "Mã GTIN phải có 8, 12, 13 hoặc 14 chữ số với số kiểm tra đúng.",
        "en": "A GTIN has 8, 12, 13 or 14 digits and a correct check digit.",
    },
    "chain_split_package": {
        "vi": "Đây là một kiện đã tách từ lô, không thể tách tiếp.",
        "en": "This is a package split from a lot; it cannot be split again.",
    },
    "chain_split_twice": {"vi": "Lô này đã được tách thành kiện.", "en": "This lot is split into packages already."},
    "chain_split_count": {
        "vi": "Cần từ 1 đến {high} kiện.",
        "en": "From 1 to {high} packages are needed.",
    },
    "chain_public_title": {"vi": "Sau thu hoạch", "en": "After harvest"},
    "chain_public_step": {"vi": "Bước", "en": "Step"},
    "chain_public_buyer": {"vi": "Người mua", "en": "Buyer"},
    "chain_step_preprocessing": {"vi": "sơ chế", "en": "pre-processing"},
    "chain_step_packing": {"vi": "đóng gói", "en": "packing"},
    "chain_step_storage": {"vi": "bảo quản", "en": "storage"},
    "chain_step_shipment": {"vi": "vận chuyển", "en": "shipment"},
    "chain_step_receipt": {"vi": "nhận hàng", "en": "receipt"},
    "chain_bad_kind": {"vi": "Bước phải là một trong: {kinds}.", "en": "The step must be one of: {kinds}."},
    "chain_bad_time": {
        "vi": "Thời điểm cần có múi giờ (ví dụ 2026-12-03T08:00:00+07:00).",
        "en": "The time needs a time zone (e.g. 2026-12-03T08:00:00+07:00).",
    },
    "chain_before_harvest": {
        "vi": "Bước này không thể trước ngày thu hoạch của lô.",
        "en": "This step cannot be before the lot's harvest day.",
    },
    "chain_in_future": {"vi": "Thời điểm của bước ở tương lai.", "en": "The step's time is in the future."},
    "chain_twice": {"vi": "Lô đã có bước {step}.", "en": "The lot has a {step} step already."},
    "chain_out_of_order": {
        "vi": "Không thể ghi {step} sau khi đã {after}.",
        "en": "{step} cannot be recorded after {after}.",
    },
    "chain_ship_before_pack": {
        "vi": "Lô phải được đóng gói trước khi vận chuyển.",
        "en": "The lot must be packed before it is shipped.",
    },
    "chain_receive_before_ship": {
        "vi": "Lô phải được vận chuyển trước khi nhận hàng.",
        "en": "The lot must be shipped before it is received.",
    },
    "chain_earlier_than_last": {
        "vi": "Thời điểm sớm hơn bước trước của lô.",
        "en": "The time is earlier than the lot's previous step.",
    },
    "chain_bad_number": {"vi": "Giá trị {field} không hợp lệ.", "en": "{field} is not a valid number."},
    "chain_more_than_lot": {
        "vi": "{kg} kg nhiều hơn khối lượng của lô ({lot} kg).",
        "en": "{kg} kg is more than the lot weighs ({lot} kg).",
    },
    "chain_needs_buyer": {"vi": "Cần tên người mua khi vận chuyển.", "en": "A shipment needs the buyer's name."},
    "cert_scheme_vietgap": {"vi": "Chứng nhận VietGAP", "en": "VietGAP certificate"},
    "cert_scheme_globalgap": {"vi": "Chứng nhận GlobalG.A.P.", "en": "GlobalG.A.P. certificate"},
    "cert_scheme_organic": {"vi": "Chứng nhận hữu cơ", "en": "Organic certificate"},
    "cert_scheme_other": {"vi": "Chứng nhận khác", "en": "Other certificate"},
    "cert_valid_until": {"vi": "hiệu lực đến", "en": "valid until"},
    "cert_bad_scheme": {
        "vi": "Loại chứng nhận phải là một trong: {schemes}.",
        "en": "The scheme must be one of: {schemes}.",
    },
    "cert_needs_code": {"vi": "Cần số chứng nhận.", "en": "The certificate needs its number."},
    "cert_ends_before_start": {
        "vi": "Ngày hết hiệu lực trước ngày bắt đầu hiệu lực.",
        "en": "The certificate ends before it starts.",
    },
    "cert_too_many_crops": {"vi": "Tối đa {high} cây trồng.", "en": "At most {high} crops."},
    "chain_step_merge": {"vi": "gộp lô", "en": "merge"},
    "chain_lots_word": {"vi": "lô", "en": "lots"},
    "chain_merge_count": {
        "vi": "Cần từ 2 đến {high} lô khác nhau để gộp.",
        "en": "From 2 to {high} different lots are needed for a merge.",
    },
    "chain_merge_crops": {
        "vi": "Chỉ gộp được các lô cùng một loại cây trồng.",
        "en": "Only lots of the same crop can be merged.",
    },
    "chain_merge_units": {
        "vi": "Chỉ gộp được các lô cùng đơn vị khối lượng.",
        "en": "Only lots with the same unit can be merged.",
    },
    "chain_merge_package": {
        "vi": "Một kiện đã tách từ lô không thể gộp.",
        "en": "A package split from a lot cannot be merged.",
    },
    "chain_merged_already": {
        "vi": "Lô này đã được gộp vào một lô khác.",
        "en": "This lot has been merged into another lot.",
    },
    "chain_merge_after_step": {
        "vi": "Không thể gộp lô đã {step}; chỉ gộp lô chưa qua bước nào ngoài bảo quản.",
        "en": "A lot past {step} cannot be merged; only lots with no step but storage can.",
    },
    "lot_sources_title": {"vi": "Nguồn gốc các lô đã gộp", "en": "Where the merged lots came from"},
    "forecast_missing_area": {
        "vi": "Lô {plot}: chưa có diện tích, chưa thể dự báo sản lượng.",
        "en": "Plot {plot}: no area recorded, so no forecast.",
    },
    "forecast_missing_dates": {
        "vi": "Lô {plot}: chưa có ngày trồng hay ngày thu hoạch dự kiến, chưa thể dự báo.",
        "en": "Plot {plot}: no planting date nor expected harvest date, so no forecast.",
    },
    "forecast_missing_profile": {
        "vi": "Lô {plot}: cây trồng chưa có hồ sơ năng suất, hợp tác xã cần nhập năng suất dự kiến.",
        "en": "Plot {plot}: its crop has no yield profile; the cooperative needs to enter its expected yield.",
    },
    "forecast_how": {
        "vi": "Sản lượng dự kiến = diện tích × năng suất của hồ sơ cây trồng, hiệu chỉnh theo tỉ lệ thu hoạch thực tế "
        "/ dự kiến của các vụ trước của hợp tác xã, trừ phần đã thu hoạch; thời điểm theo ngày thu hoạch dự kiến "
        "(hoặc ngày trồng + số ngày của hồ sơ), hoặc theo xu hướng độ chín của camera quả; khoảng dao động theo "
        "các vụ trước (±20% khi chưa đủ 3 vụ). Sai số kiểm tra lại (MAPE) so với cách tính đơn giản (diện tích × "
        "năng suất hồ sơ).",
        "en": "Expected output = area × the crop profile's yield, scaled by the cooperative's recorded ÷ expected "
        "harvest of earlier seasons, minus what is already harvested; timed by the expected harvest date (or "
        "planting date + the profile's days), or by a fruit camera's ripeness trend; the band from earlier seasons "
        "(±20% until three are recorded). Backtest error (MAPE) beside the naive figure (area × profile yield).",
    },
    "forecast_profile_crop": {"vi": "Cần tên cây trồng.", "en": "A crop name is needed."},
    "forecast_sheet": {"vi": "Dự báo sản lượng", "en": "Output forecast"},
    "forecast_csv_crop": {"vi": "Cây trồng", "en": "Crop"},
    "forecast_csv_week": {"vi": "Tuần bắt đầu", "en": "Week starting"},
    "forecast_csv_expected": {"vi": "Dự kiến (kg)", "en": "Expected (kg)"},
    "forecast_csv_low": {"vi": "Thấp (kg)", "en": "Low (kg)"},
    "forecast_csv_high": {"vi": "Cao (kg)", "en": "High (kg)"},
    "forecast_csv_recorded": {"vi": "Đã thu hoạch (kg)", "en": "Harvested (kg)"},
    "review_photo_removed": {
        "vi": "Ảnh này đã được xoá theo chính sách lưu trữ ảnh của hợp tác xã, không thể duyệt.",
        "en": "This photo was removed by the cooperative's photo retention policy and cannot be reviewed.",
    },
    "capture_photo_removed": {
        "vi": "Ảnh đã được xoá theo chính sách lưu trữ ảnh ({date}); số đếm và phát hiện của ảnh vẫn được giữ.",
        "en": "The photo was removed by the photo retention policy ({date}); its counts and detections are kept.",
    },
    "retention_days_invalid": {
        "vi": "Số ngày lưu ảnh phải từ {low} đến {high}, hoặc để trống để giữ mọi ảnh.",
        "en": "Days to keep photos must be from {low} to {high}, or empty to keep every photo.",
    },
    "review_not_processed": {
        "vi": "Ảnh chưa được xử lý xong, chưa thể duyệt.",
        "en": "The capture is not processed yet and cannot be reviewed.",
    },
    "forbidden_role": {
        "vi": "Vai trò của bạn không được phép làm việc này.",
        "en": "Your role is not allowed to do this.",
    },
    "image_empty": {"vi": "Tệp ảnh rỗng.", "en": "The image file is empty."},
    "image_too_large": {
        "vi": "Ảnh quá lớn ({size}, tối đa {limit}).",
        "en": "Image too large ({size}, limit {limit}).",
    },
    "image_not_an_image": {
        "vi": "Tệp không phải là ảnh JPEG/PNG/WebP.",
        "en": "The file is not a JPEG/PNG/WebP image.",
    },
    "image_too_many_pixels": {
        "vi": "Ảnh có quá nhiều điểm ảnh ({pixels}, tối đa {limit}).",
        "en": "Image has too many pixels ({pixels}, limit {limit}).",
    },
    "image_corrupt": {"vi": "Ảnh bị hỏng hoặc không đầy đủ.", "en": "The image is corrupt or truncated."},
    "image_unsupported_format": {"vi": "Định dạng ảnh không được hỗ trợ.", "en": "Unsupported image format."},
    "image_trailing_data": {
        "vi": "Tệp có dữ liệu lạ phía sau phần ảnh (tệp ghép), không được chấp nhận.",
        "en": "The file has extra data after the end of the image (an appended file); it is not accepted.",
    },
    "sha256_mismatch": {
        "vi": "Mã băm SHA-256 của ảnh không khớp với khai báo.",
        "en": "The image's SHA-256 does not match the declared value.",
    },
    "size_mismatch": {
        "vi": "Kích thước tệp không khớp với khai báo.",
        "en": "The file size does not match the declared size.",
    },
    "upload_missing": {
        "vi": "Chưa nhận được ảnh tại địa chỉ tải lên.",
        "en": "The image has not been uploaded to the upload URL yet.",
    },
    "upload_expired": {
        "vi": "Phiên tải lên đã hết hạn, hãy xin phiên mới.",
        "en": "The upload slot expired; request a new one.",
    },
    "storage_unavailable": {
        "vi": "Kho lưu trữ ảnh tạm thời không truy cập được, hãy thử lại.",
        "en": "Object storage is temporarily unavailable; retry later.",
    },
    "invalid_sha256": {"vi": "Mã SHA-256 phải gồm 64 ký tự hex.", "en": "sha256 must be 64 hex characters."},
    "captured_at_future": {
        "vi": "Thời điểm chụp nằm quá xa trong tương lai.",
        "en": "captured_at is too far in the future.",
    },
    "edge_model_unknown": {
        "vi": "Máy chủ không biết mô hình mà camera đã chạy (sha256 {sha256}…); hãy tải mô hình mới.",
        "en": "The server does not know the model the camera ran (sha256 {sha256}…); download the current one.",
    },
    "edge_bad_detection": {
        "vi": "Phát hiện không hợp lệ từ camera (loài '{name}' hoặc khung sai).",
        "en": "Invalid detection from the camera (class '{name}' or its box).",
    },
    "no_model_for_camera": {
        "vi": "Chưa có mô hình đang dùng cho camera này.",
        "en": "No production model for this camera.",
    },
    "agent_mode_needs_edge": {
        "vi": "Chế độ 'chỉ ảnh có phát hiện' hoặc 'chỉ ảnh cắt' cần bật phát hiện trên thiết bị.",
        "en": "Modes 'detections' and 'crops' need edge detection turned on.",
    },
    "too_many_attempts": {
        "vi": "Đăng nhập sai quá nhiều lần; hãy thử lại sau {minutes} phút.",
        "en": "Too many failed sign-ins; try again in {minutes} minutes.",
    },
    "too_many_requests": {
        "vi": "Thiết bị gửi quá nhiều yêu cầu; hãy chờ rồi thử lại.",
        "en": "Too many requests from this device; wait and retry.",
    },
    # alerts and diary
    "alert_pest": {
        "vi": "{level}: {pest} trên {plot} — {count} {unit} hôm nay {date} (ngưỡng {threshold}).",
        "en": "{level}: {pest} on {plot} — {count} {unit} today {date} (threshold {threshold}).",
    },
    "unit_trap_day": {"vi": "con mới/bẫy/ngày", "en": "new per trap per day"},
    "unit_sample": {"vi": "con/ảnh mẫu", "en": "per sample photo"},
    "unit_auto": {
        "vi": "con/ngày (bẫy: con mới/bẫy; camera: con/ảnh mẫu)",
        "en": "per day (traps: new per trap; cameras: per sample photo)",
    },
    "rule_class_camera_silent": {"vi": "Camera im lặng", "en": "Silent camera"},
    "rule_class_harvest_window": {"vi": "Thời điểm thu hoạch", "en": "Harvest window"},
    "rule_params_trend": {"vi": "tăng ≥ {pct}% so với hôm qua", "en": "up ≥ {pct}% on yesterday"},
    "rule_params_seasonal": {
        "vi": "tuần này cao hơn trung vị cùng tuần các mùa trước {pct}%",
        "en": "this week over the median of the same week in earlier seasons by {pct}%",
    },
    "rule_params_silence": {"vi": "không có ảnh trong {hours} giờ", "en": "no photo for {hours} hours"},
    "rule_params_harvest": {
        "vi": "báo khi ≥ {share}% quả chín, dự báo ngày đạt {target}% (trong {days} ngày)",
        "en": "alerts at ≥ {share}% ripe, forecasts the day {target}% is reached (over {days} days)",
    },
    "ambiguous_pest": {
        "vi": 'Tên "{name}" ứng với nhiều loài của các mô hình đang dùng: {known}. Gõ tên trong ngoặc để chọn một.',
        "en": 'The name "{name}" matches several classes of the production models: {known}. Type the name in '
        "brackets to pick one.",
    },
    "personal_kind_refused": {"vi": "chỉ nhận qua {kinds}", "en": "only {kinds} can be linked"},
    "personal_needs_coop_channel": {
        "vi": "hợp tác xã chưa cài đặt kênh {kind}: nhờ quản trị HTX thêm ở trang Kênh thông báo",
        "en": "the cooperative has no {kind} channel yet: ask its admin to add one on the channels page",
    },
    "unknown_pest": {
        "vi": 'Không có loài "{name}" trong các mô hình đang dùng. Chọn một trong: {known}.',
        "en": 'No class "{name}" in the production models. Choose one of: {known}.',
    },
    "channel_err_settings": {"vi": "cấu hình không dùng được", "en": "settings that cannot work"},
    "personal_quiet_both": {
        "vi": "Giờ yên lặng cần cả giờ bắt đầu và giờ kết thúc.",
        "en": "Quiet hours need both a start and an end.",
    },
    "channel_err_digest_time": {
        "vi": "giờ gửi bản tóm tắt hằng ngày phải viết dạng 18:00",
        "en": "daily_digest must be a time like 18:00",
    },
    "channel_err_quiet_time": {
        "vi": "giờ yên lặng ({key}) phải viết dạng 21:00",
        "en": "quiet_hours.{key} must be a time like 21:00",
    },
    "channel_err_kind": {"vi": "loại kênh phải là một trong {kinds}", "en": "kind must be one of {kinds}"},
    "channel_err_object": {"vi": "cấu hình phải là một đối tượng", "en": "config must be an object"},
    "channel_err_unknown_keys": {"vi": "có mục cấu hình lạ: {keys}", "en": "unknown config keys: {keys}"},
    "channel_err_missing": {"vi": "còn thiếu: {keys}", "en": "missing: {keys}"},
    "channel_err_short_text": {"vi": "{key} phải là một đoạn chữ ngắn", "en": "config.{key} must be a short text"},
    "channel_err_quiet_shape": {
        "vi": "giờ yên lặng phải có giờ bắt đầu và giờ kết thúc",
        "en": "quiet_hours needs a start and an end",
    },
    "channel_err_quiet_same": {
        "vi": "giờ bắt đầu và giờ kết thúc yên lặng phải khác nhau",
        "en": "quiet_hours start and end must differ",
    },
    "channel_err_max_per_day": {
        "vi": "số tin tối đa mỗi ngày phải là số nguyên từ 1 đến 1000",
        "en": "max_per_day must be a whole number from 1 to 1000",
    },
    "channel_err_webhook_invalid_url": {
        "vi": "địa chỉ webhook không hợp lệ (cần http:// hoặc https:// và tên máy)",
        "en": "the webhook URL is not valid (http:// or https:// and a host)",
    },
    "channel_err_webhook_unresolvable_host": {
        "vi": "không tìm thấy máy chủ của webhook",
        "en": "the webhook's host does not resolve",
    },
    "channel_err_webhook_blocked_destination": {
        "vi": "webhook chỉ được gửi tới máy chủ công khai trên Internet, không tới địa chỉ nội bộ",
        "en": "webhooks may only go to public internet servers, not to internal addresses",
    },
    "channel_err_email_to": {
        "vi": "cần từ 1 đến 20 địa chỉ e-mail hợp lệ",
        "en": "give 1 to 20 valid e-mail addresses",
    },
    "channel_err_telegram_token": {
        "vi": "mã bot Telegram phải có dạng 123456:ABC-DEF…",
        "en": "the Telegram bot token must look like 123456:ABC-DEF…",
    },
    "channel_err_telegram_chat": {
        "vi": "mã chat Telegram phải là một số hoặc @tenkenh",
        "en": "the Telegram chat id must be a number or @channelname",
    },
    "channel_err_zalo_user": {
        "vi": "mã người theo dõi Zalo phải là dãy số",
        "en": "the Zalo follower id must be digits",
    },
    "channel_test_message": {
        "vi": "CropWatch: tin nhắn thử. Kênh này sẽ nhận cảnh báo sâu hại của hợp tác xã.",
        "en": "CropWatch: a test message. This channel will receive the cooperative's pest alerts.",
    },
    "not_a_trap": {
        "vi": "Camera này không phải bẫy dính: không có tấm bẫy để thay.",
        "en": "This camera is no sticky trap: there is no card to change.",
    },
    "rule_unit_mismatch": {
        "vi": "Đơn vị {unit} chỉ dùng cho quy tắc ngưỡng, xu hướng hoặc so với mùa trước của sâu hại.",
        "en": "The unit {unit} is for pest threshold, trend and seasonal rules only.",
    },
    "level_watch": {"vi": "Theo dõi", "en": "Watch"},
    "level_warning": {"vi": "Cảnh báo", "en": "Warning"},
    "level_danger": {"vi": "Nguy hiểm", "en": "Danger"},
    "diary_auto_day": {
        "vi": "Quan sát tự động: {count} {pest} trong ngày {date}",
        "en": "Automatic observation: {count} {pest} on {date}",
    },
}


def normalize_locale(value: str | None) -> str:
    if not value:
        return DEFAULT_LOCALE
    for part in value.replace(" ", "").split(","):
        code = part.split(";")[0].split("-")[0].lower()
        if code in LOCALES:
            return code
    return DEFAULT_LOCALE


class Message:
    """A message inside another one ("Cấu hình kênh không hợp lệ: {reason}"), written in the outer one's language."""

    def __init__(self, message_key: str, /, **params: object) -> None:
        self.message_key, self.params = message_key, params

    def localized(self, locale: str) -> str:
        return t(self.message_key, locale, **self.params)


class Number:
    """A number in a message, written for its reader: "1.234,5" in Vietnamese, "1,234.5" in English."""

    def __init__(self, value: float, digits: int = 1) -> None:
        self.value, self.digits = value, digits

    def localized(self, locale: str) -> str:
        return fmt_number(self.value, locale, digits=self.digits)

    def __str__(self) -> str:
        return fmt_number(self.value, "en", digits=self.digits)


class Megabytes:
    """A size in a message, written for its reader: "20,5 MB" in Vietnamese, "20.5 MB" in English (MB of 1024²
    bytes, as phones and Windows count them; two decimals at most, rounded up, so a file just over the limit reads larger)."""

    def __init__(self, n_bytes: int) -> None:
        self.n_bytes = n_bytes

    def localized(self, locale: str) -> str:
        import math

        mb = math.ceil(self.n_bytes / 1024 / 1024 * 100) / 100  # rounded up: a byte over 20 MB reads 20,01
        return f"{fmt_number(mb, locale, digits=2)} MB"


def t(
    key: str,
    locale: str = DEFAULT_LOCALE,
    /,
    *,
    catalogue: Mapping[str, Mapping[str, str]] | None = None,
    **params: Any,
) -> str:
    """The text of ``key`` in ``locale`` (Vietnamese when the entry has no such language), ``params`` filled in (a
    value with ``localized(locale)`` is localized first). ``catalogue`` is looked up before this module's own (the
    web pages' messages); an unknown key is returned as it is. An entry's ``en_one`` is its English text for
    ``n`` = 1 ("1 alert", not "1 alerts")."""
    entry = (catalogue or {}).get(key) or CATALOGUE.get(key)
    if entry is None:
        return key
    text = entry.get(locale, entry[DEFAULT_LOCALE])
    if params.get("n") in (1, "1") and f"{locale}_one" in entry:  # English plurals; Vietnamese has none
        text = entry[f"{locale}_one"]
    if not params:
        return text
    params = {k: v.localized(locale) if hasattr(v, "localized") else v for k, v in params.items()}
    return text.format(**params)


def fmt_number(value: float | int, lang: str = "vi", digits: int = 1) -> str:
    """350.5 → "350,5" (vi) / "350.5" (en); 1234567 → "1.234.567" / "1,234,567"; whole numbers without decimals."""
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    rounded = round(float(value), digits)
    text = f"{rounded:,.0f}" if rounded == int(rounded) else f"{rounded:,.{digits}f}".rstrip("0")
    if lang == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text
