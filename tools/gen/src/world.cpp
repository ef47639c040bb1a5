// Builds the generated manufacturer: network, master data and the demand model.
#include "world.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "random.hpp"

namespace sop::gen::detail {
namespace {

using std::chrono::days;
using std::chrono::sys_days;

std::string Numbered(const char* prefix, int number, int width) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s%0*d", prefix, width, number);
  return buffer;
}

double RoundTo(double value, double step) {
  return std::round(value / step) * step;
}
double CeilTo(double value, double step) {
  return std::ceil(value / step - 1e-9) * step;
}

// Splits `total` over `parts` as evenly as possible; part k gets the k-th share.
int Share(int total, int parts, int k) {
  return total / parts + (k < total % parts ? 1 : 0);
}

// Western Easter Sunday (anonymous Gregorian computus).
sys_days EasterSunday(int y) {
  const int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
  const int f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30;
  const int i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7;
  const int m = (a + 11 * h + 22 * l) / 451;
  const int month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
  return sys_days{std::chrono::year{y} / std::chrono::month{static_cast<unsigned>(month)} /
                  std::chrono::day{static_cast<unsigned>(day)}};
}

sys_days Ymd(int y, unsigned m, unsigned d) {
  return sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
}

// n-th (1-based; -1 = last) ISO weekday `wd` of a month.
sys_days NthWeekday(int y, unsigned m, unsigned wd, int n) {
  const std::chrono::weekday weekday{wd % 7};
  if (n > 0) {
    return sys_days{std::chrono::year{y} / std::chrono::month{m} /
                    std::chrono::weekday_indexed{weekday, static_cast<unsigned>(n)}};
  }
  return sys_days{std::chrono::year{y} / std::chrono::month{m} /
                  std::chrono::weekday_last{weekday}};
}

unsigned IsoWeekday(sys_days day) {
  return std::chrono::weekday{day}.iso_encoding();
}

// Public holidays of a plant's country falling on the calendar's working days in [from, to).
std::vector<sys_days> Holidays(bool us, const std::vector<int>& weekdays, sys_days from,
                               sys_days to) {
  std::vector<sys_days> all;
  const int first_year = static_cast<int>(std::chrono::year_month_day{from}.year());
  const int last_year = static_cast<int>(std::chrono::year_month_day{to}.year());
  for (int y = first_year; y <= last_year; ++y) {
    all.push_back(Ymd(y, 1, 1));
    all.push_back(Ymd(y, 12, 24));
    all.push_back(Ymd(y, 12, 25));
    all.push_back(Ymd(y, 12, 31));
    if (us) {
      all.push_back(NthWeekday(y, 5, 1, -1));  // Memorial Day
      all.push_back(Ymd(y, 7, 4));
      all.push_back(NthWeekday(y, 9, 1, 1));  // Labor Day
      const sys_days thanksgiving = NthWeekday(y, 11, 4, 4);
      all.push_back(thanksgiving);
      all.push_back(thanksgiving + days{1});
    } else {
      const sys_days easter = EasterSunday(y);
      all.push_back(easter - days{2});  // Good Friday
      all.push_back(easter + days{1});  // Easter Monday
      all.push_back(Ymd(y, 5, 1));
      all.push_back(easter + days{39});  // Ascension
      all.push_back(easter + days{50});  // Whit Monday
      all.push_back(Ymd(y, 10, 3));
      all.push_back(Ymd(y, 12, 26));
    }
  }
  std::vector<sys_days> result;
  for (sys_days day : all) {
    const auto wd = static_cast<int>(IsoWeekday(day));
    if (day >= from && day < to &&
        std::find(weekdays.begin(), weekdays.end(), wd) != weekdays.end()) {
      result.push_back(day);
    }
  }
  std::sort(result.begin(), result.end());
  result.erase(std::unique(result.begin(), result.end()), result.end());
  return result;
}

constexpr const char* kPlantCities[] = {"Stuttgart", "Graz",  "Greenville",
                                        "Brno",      "Porto", "Monterrey"};
constexpr const char* kDcCities[] = {"Rotterdam", "Memphis", "Lyon", "Singapore"};
constexpr const char* kFamilyNames[] = {"PUMP",   "VALVE",  "MOTOR",  "GEARBOX", "FAN",  "BRAKE",
                                        "SENSOR", "FILTER", "HEATER", "DRIVE",   "SEAL", "LOCK"};
constexpr const char* kPartsCenters[] = {"Machining", "Stamping", "Molding",
                                         "Welding",   "Paint",    "Heat treat"};
constexpr const char* kAssemblyCenters[] = {"Assembly", "Test", "Packing"};
constexpr const char* kChannels[] = {"AFTERMARKET", "ECOM", "RETAIL"};
constexpr int kPackSizes[] = {5, 10, 12, 25, 50, 100};

void BuildNetwork(World& w) {
  const auto& spec = w.spec;
  const sys_days plan_start = w.options.plan_start;
  const sys_days horizon_end = plan_start + days{7 * spec.horizon_buckets};
  for (int p = 0; p < spec.plants; ++p) {
    SiteDef site;
    site.id = "P" + std::to_string(p + 1);
    const bool us = p % 3 == 2;  // every third plant is in the US: other holidays
    site.name = std::string("Plant ") + kPlantCities[p % std::size(kPlantCities)];
    site.time_zone = us ? "America/New_York" : "Europe/Berlin";
    for (int shifts = 2; shifts <= 3; ++shifts) {
      CalendarDef cal;
      cal.id = "CAL-" + site.id + "-" + std::to_string(shifts) + "S";
      cal.site = p;
      cal.weekdays = {1, 2, 3, 4, 5};
      cal.shifts = {{"early", 7.5}, {"late", 7.5}};
      if (shifts == 3) cal.shifts.emplace_back("night", 7.0);
      cal.holidays = Holidays(us, cal.weekdays, plan_start - days{7}, horizon_end);
      site.calendars.push_back(static_cast<int>(w.calendars.size()));
      w.calendars.push_back(std::move(cal));
    }
    w.sites.push_back(std::move(site));
  }
  for (int d = 0; d < spec.distribution_centers; ++d) {
    SiteDef site;
    site.id = "DC" + std::to_string(d + 1);
    site.plant = false;
    site.name = std::string("Distribution center ") + kDcCities[d % std::size(kDcCities)];
    site.time_zone = d % 2 == 1 ? "America/Chicago" : "Europe/Amsterdam";
    CalendarDef cal;
    cal.id = "CAL-" + site.id;
    cal.site = spec.plants + d;
    cal.weekdays = {1, 2, 3, 4, 5, 6};
    cal.shifts = {{"day", 8.0}};
    cal.holidays = Holidays(d % 2 == 1, cal.weekdays, plan_start - days{7}, horizon_end);
    site.calendars.push_back(static_cast<int>(w.calendars.size()));
    w.calendars.push_back(std::move(cal));
    w.sites.push_back(std::move(site));
  }

  Rng rng(w.options.seed, "network");
  for (int f = 0; f < spec.families; ++f) {
    FamilyDef family;
    family.id = std::string(kFamilyNames[f % std::size(kFamilyNames)]) + "-" +
                std::to_string(f / static_cast<int>(std::size(kFamilyNames)) + 1);
    family.plant = f % spec.plants;
    family.amplitude = rng.Chance(0.25) ? 0.0 : RoundTo(rng.Uniform(0.08, 0.4), 0.01);
    family.phase = rng.Uniform();
    family.trend_per_year = RoundTo(rng.Uniform(-0.08, 0.18), 0.005);
    family.median_weekly = std::exp(rng.Uniform(std::log(8.0), std::log(80.0)));
    w.sites[static_cast<std::size_t>(family.plant)].families.push_back(f);
    w.families.push_back(std::move(family));
  }
  for (int s = 0; s < spec.suppliers; ++s) {
    SupplierDef supplier;
    supplier.id = Numbered("SUP-", s + 1, 4);
    supplier.name = "Supplier " + std::to_string(s + 1);
    supplier.quoted_lead_time_days = 7.0 * rng.Int(2, 9);
    supplier.late = rng.Chance(0.15);
    supplier.site = s % spec.plants;
    w.suppliers.push_back(std::move(supplier));
  }
  for (int c = 0; c < spec.customers; ++c) {
    CustomerDef customer;
    customer.id = Numbered("CUST-", c + 1, 5);
    customer.name = "Customer " + std::to_string(c + 1);
    const double p = rng.Uniform();
    customer.priority = p < 0.1 ? 1 : (p < 0.4 ? 2 : 3);
    // A quarter of the customers are OEMs buying straight from a plant; the rest buy through
    // the distribution centers.
    if (c % 4 == 0 || spec.distribution_centers == 0) {
      customer.channel = "OEM";
      customer.site = (c / 4) % spec.plants;
    } else {
      customer.channel = kChannels[rng.Int(0, static_cast<int>(std::size(kChannels)) - 1)];
      customer.site = spec.plants + c % spec.distribution_centers;
    }
    w.sites[static_cast<std::size_t>(customer.site)].customers.push_back(c);
    w.customers.push_back(std::move(customer));
  }
  int wc_number = 0;
  for (int p = 0; p < spec.plants; ++p) {
    const int count = Share(spec.work_centers, spec.plants, p);
    const int assembly_from = count - std::max(1, (count * 2) / 5);
    for (int k = 0; k < count; ++k) {
      WorkCenterDef wc;
      wc.site = p;
      wc.id = "WC-" + w.sites[static_cast<std::size_t>(p)].id + "-" + Numbered("", k + 1, 3);
      wc.assembly = k >= assembly_from;
      wc.name = std::string(wc.assembly ? kAssemblyCenters[(k - assembly_from) % 3]
                                        : kPartsCenters[k % std::size(kPartsCenters)]) +
                " " + std::to_string(k + 1);
      wc.calendar = w.sites[static_cast<std::size_t>(p)].calendars[rng.Chance(0.3) ? 1 : 0];
      wc.efficiency = RoundTo(rng.Uniform(0.82, 0.97), 0.01);
      wc.overtime_max_hours_per_week = 4.0 * rng.Int(1, 4);
      wc.regular_cost_per_hour = RoundTo(rng.Uniform(35.0, 70.0), 0.5);
      wc.overtime_cost_per_hour = RoundTo(wc.regular_cost_per_hour * 1.5, 0.5);
      wc.subcontract_allowed = rng.Chance(0.3);
      if (wc.subcontract_allowed) {
        wc.subcontract_cost_per_hour =
            RoundTo(wc.regular_cost_per_hour * rng.Uniform(1.6, 2.6), 0.5);
      }
      // Utilization 60–110 % over the horizon: most work centers at 60–88 % of their capacity on
      // expected demand, every seventh a bottleneck at 95–108 % (lot sizes add peaks on top).
      wc.target_utilization =
          (wc_number % 7 == 3) ? rng.Uniform(0.95, 1.08) : rng.Uniform(0.6, 0.88);
      w.sites[static_cast<std::size_t>(p)].work_centers.push_back(
          static_cast<int>(w.work_centers.size()));
      w.work_centers.push_back(std::move(wc));
      ++wc_number;
    }
  }
}

// Items at the plants: finished goods (level 0) and components by level, with BOMs.
void BuildPlantItems(World& w) {
  const auto& spec = w.spec;
  Rng rng(w.options.seed, "items");
  int fg_number = 0;
  int component_number = 0;
  const int component_levels = spec.bom_levels - 1;
  const int weight_sum = component_levels * (component_levels + 1) / 2;
  for (int p = 0; p < spec.plants; ++p) {
    auto& site = w.sites[static_cast<std::size_t>(p)];
    site.level_items.assign(static_cast<std::size_t>(spec.bom_levels), {});
    const int fg_count = Share(spec.finished_goods, spec.plants, p);
    for (int k = 0; k < fg_count; ++k) {
      ItemDef item;
      item.id = Numbered("FG", ++fg_number, 6);
      item.site = p;
      item.level = 0;
      item.type = sop::v1::ITEM_TYPE_MAKE;
      item.family = site.families.empty()
                        ? -1
                        : site.families[static_cast<std::size_t>(k) % site.families.size()];
      const std::string family_name =
          item.family >= 0 ? w.families[static_cast<std::size_t>(item.family)].id : "FG";
      item.description = family_name + " model " + std::to_string(k + 1);
      site.level_items[0].push_back(static_cast<int>(w.items.size()));
      w.items.push_back(std::move(item));
    }
    const int component_count = Share(spec.components, spec.plants, p);
    int assigned = 0;
    for (int level = 1; level <= component_levels; ++level) {
      int count = component_count * level / weight_sum;
      if (level == component_levels) count = component_count - assigned;
      count = std::max(count, 1);
      assigned += count;
      for (int k = 0; k < count; ++k) {
        ItemDef item;
        item.id = "C" + std::to_string(level) + Numbered("-", ++component_number, 6);
        item.site = p;
        item.level = level;
        // The deepest level is bought; above it a quarter is bought, the rest made, but the
        // first item of a level is always made so every level feeds the next.
        const bool buy = level == component_levels || (k > 0 && rng.Chance(0.25));
        item.type = buy ? sop::v1::ITEM_TYPE_BUY : sop::v1::ITEM_TYPE_MAKE;
        const bool raw = buy && rng.Chance(0.2);
        item.unit_of_measure = raw ? "KG" : "EA";
        item.description =
            std::string(buy ? (raw ? "Raw material " : "Purchased part ") : "Subassembly ") +
            std::to_string(k + 1) + " L" + std::to_string(level);
        site.level_items[static_cast<std::size_t>(level)].push_back(
            static_cast<int>(w.items.size()));
        w.items.push_back(std::move(item));
      }
    }
    // BOMs: each made item of level l uses components of level l+1, some from a small common
    // pool shared across families (fasteners, standard motors), the rest from its
    // neighbourhood, which keeps families mostly apart. Every component gets a parent.
    for (int level = 0; level + 1 < spec.bom_levels; ++level) {
      const auto& parents = site.level_items[static_cast<std::size_t>(level)];
      const auto& children = site.level_items[static_cast<std::size_t>(level + 1)];
      const int n_children = static_cast<int>(children.size());
      const int common = std::max(1, n_children / 10);
      std::vector<int> made;
      for (int parent : parents) {
        if (w.items[static_cast<std::size_t>(parent)].type == sop::v1::ITEM_TYPE_MAKE)
          made.push_back(parent);
      }
      std::vector<char> used(children.size(), 0);
      const int window = std::max(4, n_children / std::max(1, static_cast<int>(made.size())) * 3);
      for (std::size_t k = 0; k < made.size(); ++k) {
        ItemDef& parent = w.items[static_cast<std::size_t>(made[k])];
        const int lines = std::min(n_children, level == 0 ? rng.Int(3, 6) : rng.Int(2, 4));
        const int centre = static_cast<int>(static_cast<double>(k) /
                                            static_cast<double>(made.size()) * n_children);
        for (int attempt = 0; static_cast<int>(parent.bom.size()) < lines && attempt < lines * 4;
             ++attempt) {
          int pick = rng.Chance(0.25)
                         ? rng.Int(0, common - 1)
                         : std::clamp(centre + rng.Int(-window, window), 0, n_children - 1);
          const int child = children[static_cast<std::size_t>(pick)];
          if (std::any_of(parent.bom.begin(), parent.bom.end(),
                          [&](const BomLineDef& l) { return l.component == child; })) {
            continue;
          }
          BomLineDef line;
          line.component = child;
          const bool kg = w.items[static_cast<std::size_t>(child)].unit_of_measure == "KG";
          line.quantity_per = kg ? RoundTo(rng.Uniform(0.2, 3.0), 0.05)
                                 : static_cast<double>(rng.Chance(0.7) ? 1 : rng.Int(2, 6));
          line.scrap_fraction = rng.Chance(0.3) ? RoundTo(rng.Uniform(0.01, 0.05), 0.005) : 0.0;
          parent.bom.push_back(line);
          used[static_cast<std::size_t>(pick)] = 1;
        }
      }
      for (int c = 0; c < n_children; ++c) {
        if (used[static_cast<std::size_t>(c)] || made.empty()) continue;
        const auto k = static_cast<std::size_t>(static_cast<double>(c) / n_children *
                                                static_cast<double>(made.size()));
        BomLineDef line;
        line.component = children[static_cast<std::size_t>(c)];
        line.quantity_per = 1.0;
        w.items[static_cast<std::size_t>(made[std::min(k, made.size() - 1)])].bom.push_back(line);
      }
      // An engineering change on a few parents: one line is phased out at a future week and
      // a neighbour component phased in from the same week.
      for (int parent_index : made) {
        ItemDef& parent = w.items[static_cast<std::size_t>(parent_index)];
        if (parent.bom.empty() || n_children < 2 || !rng.Chance(0.03)) continue;
        BomLineDef& old_line = parent.bom.front();
        const int change_week = rng.Int(8, std::max(9, spec.horizon_buckets / 2));
        const auto it = std::find(children.begin(), children.end(), old_line.component);
        const auto pos = static_cast<std::size_t>(it - children.begin());
        const int successor = children[(pos + 1) % children.size()];
        if (std::any_of(parent.bom.begin(), parent.bom.end(),
                        [&](const BomLineDef& l) { return l.component == successor; })) {
          continue;
        }
        old_line.effective_to_week = change_week;
        BomLineDef new_line = old_line;
        new_line.component = successor;
        new_line.effective_to_week = -1;
        new_line.effective_from_week = change_week;
        parent.bom.push_back(new_line);
      }
    }
    // Routings for everything made here: finished goods through assembly, test and packing,
    // subassemblies through the parts-making centres.
    std::vector<int> parts_wcs, assembly_wcs;
    for (int wc : site.work_centers) {
      (w.work_centers[static_cast<std::size_t>(wc)].assembly ? assembly_wcs : parts_wcs)
          .push_back(wc);
    }
    if (parts_wcs.empty()) parts_wcs = assembly_wcs;
    if (assembly_wcs.empty()) assembly_wcs = parts_wcs;
    for (const auto& level_items : site.level_items) {
      for (int index : level_items) {
        ItemDef& item = w.items[static_cast<std::size_t>(index)];
        if (item.type != sop::v1::ITEM_TYPE_MAKE) continue;
        const auto& pool = item.level == 0 ? assembly_wcs : parts_wcs;
        if (pool.empty()) continue;
        const int steps = std::min(static_cast<int>(pool.size()),
                                   item.level == 0 ? rng.Int(1, 3) : rng.Int(1, 2));
        const int first = rng.Int(0, static_cast<int>(pool.size()) - 1);
        for (int s = 0; s < steps; ++s) {
          RoutingStepDef step;
          step.work_center = pool[static_cast<std::size_t>(first + s) % pool.size()];
          step.setup_hours = RoundTo(rng.Uniform(0.25, 2.0), 0.25);
          step.run_hours_per_unit = rng.Uniform(0.02, 0.4);
          item.routing.push_back(step);
        }
      }
    }
  }
}

// Distribution centers: every finished good as a TRANSFER item from its plant, plus spare
// parts (components sold to the aftermarket) with intermittent demand.
void BuildDcItems(World& w) {
  const auto& spec = w.spec;
  Rng rng(w.options.seed, "dc-items");
  std::vector<int> finished, spare_candidates;
  for (int i = 0; i < static_cast<int>(w.items.size()); ++i) {
    const ItemDef& item = w.items[static_cast<std::size_t>(i)];
    if (item.level == 0)
      finished.push_back(i);
    else if (item.level <= 2)
      spare_candidates.push_back(i);
  }
  for (int d = 0; d < spec.distribution_centers; ++d) {
    const int site = spec.plants + d;
    std::vector<double> lane_days(static_cast<std::size_t>(spec.plants));
    for (auto& days_on_lane : lane_days) days_on_lane = static_cast<double>(rng.Int(3, 12));
    auto add_copy = [&](int source, bool spare) {
      const ItemDef& origin = w.items[static_cast<std::size_t>(source)];
      ItemDef item;
      item.id = origin.id;
      item.description = origin.description + (spare ? " (spare)" : "");
      item.unit_of_measure = origin.unit_of_measure;
      item.site = site;
      item.type = sop::v1::ITEM_TYPE_TRANSFER;
      item.level = origin.level;
      item.family = origin.family;
      item.source_item = source;
      item.lead_time_days = lane_days[static_cast<std::size_t>(origin.site)];
      item.intermittent = spare;
      w.items.push_back(std::move(item));
    };
    for (int source : finished) add_copy(source, false);
    const int spares = std::min(spec.spare_parts_per_dc, static_cast<int>(spare_candidates.size()));
    // A deterministic stride through the candidates, offset per DC, so the DCs overlap partly.
    const std::size_t n = spare_candidates.size();
    for (int k = 0; k < spares; ++k) {
      const std::size_t pick = (static_cast<std::size_t>(k) * n / static_cast<std::size_t>(spares) +
                                static_cast<std::size_t>(d) * 7) %
                               n;
      add_copy(spare_candidates[pick], true);
    }
  }
}

// Independent demand, expected total demand through the network, then the planning
// parameters that depend on it (lot sizes, safety stock, costs) and work-center capacity.
void BuildDemandAndParameters(World& w) {
  const auto& spec = w.spec;
  Rng rng(w.options.seed, "demand");
  const int n_items = static_cast<int>(w.items.size());
  // Finished-good base volume and its split: some finished goods also sell to OEMs at the
  // plant; DC shares fall off with the DC number.
  std::vector<std::vector<int>> dc_copies(w.items.size());
  for (int i = 0; i < n_items; ++i) {
    const ItemDef& item = w.items[static_cast<std::size_t>(i)];
    if (item.source_item >= 0) dc_copies[static_cast<std::size_t>(item.source_item)].push_back(i);
  }
  double dc_weight_sum = 0.0;
  for (int d = 0; d < spec.distribution_centers; ++d)
    dc_weight_sum += spec.distribution_centers - d;
  for (int i = 0; i < n_items; ++i) {
    ItemDef& item = w.items[static_cast<std::size_t>(i)];
    if (item.source_item >= 0 || item.level != 0) continue;
    const double family_median =
        item.family >= 0 ? w.families[static_cast<std::size_t>(item.family)].median_weekly : 20.0;
    const double base = family_median * std::exp(0.8 * rng.Normal());
    const bool oem = rng.Chance(0.3) || spec.distribution_centers == 0;
    const double oem_share = spec.distribution_centers == 0 ? 1.0 : 0.4;
    if (oem) item.own_weekly_mean = base * oem_share;
    item.noise_cv = rng.Uniform(0.12, 0.4);
    item.forecast_bias = rng.Uniform(0.9, 1.1);
    for (int copy : dc_copies[static_cast<std::size_t>(i)]) {
      ItemDef& dc_item = w.items[static_cast<std::size_t>(copy)];
      if (dc_item.intermittent) continue;
      const int d = dc_item.site - spec.plants;
      dc_item.own_weekly_mean =
          base * (oem ? 1.0 - oem_share : 1.0) * (spec.distribution_centers - d) / dc_weight_sum;
      dc_item.noise_cv = rng.Uniform(0.15, 0.45);
      dc_item.forecast_bias = rng.Uniform(0.9, 1.1);
    }
  }
  for (ItemDef& item : w.items) {
    if (!item.intermittent) continue;
    item.intermittent_probability = rng.Uniform(0.05, 0.35);
    item.intermittent_size = rng.Uniform(1.0, 6.0);
    item.own_weekly_mean = item.intermittent_probability * item.intermittent_size;
    item.forecast_bias = rng.Uniform(0.85, 1.15);
  }
  for (int i = 0; i < n_items; ++i) {
    if (w.items[static_cast<std::size_t>(i)].sold()) w.sold_items.push_back(i);
  }
  // Expected demand: DC demand lands on the source plant, then flows down the BOM level by level.
  for (ItemDef& item : w.items) item.expected_weekly = item.own_weekly_mean;
  for (const ItemDef& item : w.items) {
    if (item.source_item >= 0)
      w.items[static_cast<std::size_t>(item.source_item)].expected_weekly += item.own_weekly_mean;
  }
  for (int p = 0; p < spec.plants; ++p) {
    for (const auto& level_items : w.sites[static_cast<std::size_t>(p)].level_items) {
      for (int index : level_items) {
        const ItemDef& parent = w.items[static_cast<std::size_t>(index)];
        for (const BomLineDef& line : parent.bom) {
          w.items[static_cast<std::size_t>(line.component)].expected_weekly +=
              parent.expected_weekly * line.quantity_per * (1.0 + line.scrap_fraction);
        }
      }
    }
  }
  // Costs roll up from the deepest level; prices on top for what is sold.
  Rng params(w.options.seed, "parameters");
  for (int p = 0; p < spec.plants; ++p) {
    const auto& levels = w.sites[static_cast<std::size_t>(p)].level_items;
    for (auto level = levels.rbegin(); level != levels.rend(); ++level) {
      for (int index : *level) {
        ItemDef& item = w.items[static_cast<std::size_t>(index)];
        if (item.type == sop::v1::ITEM_TYPE_BUY) {
          item.unit_cost = RoundTo(std::exp(params.Uniform(std::log(0.4), std::log(60.0))), 0.01);
        } else {
          double material = 0.0;
          for (const BomLineDef& line : item.bom) {
            material +=
                w.items[static_cast<std::size_t>(line.component)].unit_cost * line.quantity_per;
          }
          item.unit_cost =
              RoundTo(material * params.Uniform(1.1, 1.35) + params.Uniform(1.0, 15.0), 0.01);
        }
        if (item.level == 0)
          item.unit_price = RoundTo(item.unit_cost * params.Uniform(1.3, 1.9), 0.01);
      }
    }
  }
  const int n_suppliers = static_cast<int>(w.suppliers.size());
  for (ItemDef& item : w.items) {
    const double mean = std::max(item.expected_weekly, 0.5);
    if (item.source_item >= 0) {
      const ItemDef& origin = w.items[static_cast<std::size_t>(item.source_item)];
      item.unit_cost = RoundTo(origin.unit_cost * 1.03, 0.01);
      item.unit_price = item.intermittent
                            ? RoundTo(origin.unit_cost * params.Uniform(2.0, 3.5), 0.01)
                            : origin.unit_price;
    }
    switch (item.type) {
      case sop::v1::ITEM_TYPE_BUY: {
        const int supplier = n_suppliers == 0 ? -1 : params.Int(0, n_suppliers - 1);
        item.supplier = supplier;
        const double quoted =
            supplier < 0 ? 28.0
                         : w.suppliers[static_cast<std::size_t>(supplier)].quoted_lead_time_days;
        item.lead_time_days = std::max(3.0, quoted + 7.0 * params.Int(-1, 1));
        break;
      }
      case sop::v1::ITEM_TYPE_MAKE:
        item.lead_time_days =
            item.level == 0 ? 7.0 * params.Int(1, 2) : static_cast<double>(params.Int(5, 14));
        if (params.Chance(0.2)) item.yield = RoundTo(params.Uniform(0.95, 0.99), 0.01);
        if (params.Chance(0.4)) {
          item.frozen_fence_days = params.Chance(0.75) ? 7.0 : 14.0;
          item.slushy_fence_days = 28.0;
        }
        break;
      default:
        break;
    }
    // Lot policies mixed: lot-for-lot, fixed order quantity, periods of supply; minimums,
    // pack multiples and a few maximums on top.
    const double u = params.Uniform();
    if (u < 0.45) {
      item.policy = sop::v1::LOT_SIZING_POLICY_LOT_FOR_LOT;
    } else if (u < 0.7) {
      item.policy = sop::v1::LOT_SIZING_POLICY_FIXED_ORDER_QUANTITY;
      item.fixed_order_quantity =
          std::max(1.0, CeilTo(mean * params.Uniform(2.0, 6.0), mean > 20 ? 10.0 : 1.0));
    } else {
      item.policy = sop::v1::LOT_SIZING_POLICY_PERIODS_OF_SUPPLY;
      item.periods_of_supply = params.Int(2, 4);
    }
    if (item.policy != sop::v1::LOT_SIZING_POLICY_FIXED_ORDER_QUANTITY) {
      if (params.Chance(0.2))
        item.minimum_order_quantity = std::ceil(mean * params.Uniform(1.0, 3.0));
      if (item.type == sop::v1::ITEM_TYPE_BUY && params.Chance(0.3)) {
        int pack = kPackSizes[params.Int(0, static_cast<int>(std::size(kPackSizes)) - 1)];
        while (pack > 5 && pack > mean * 4) pack /= 2;
        item.order_multiple = pack;
      }
      if (params.Chance(0.05)) {
        item.maximum_order_quantity = std::max(item.minimum_order_quantity, std::ceil(mean * 8.0));
        if (item.order_multiple > 0)
          item.maximum_order_quantity = CeilTo(item.maximum_order_quantity, item.order_multiple);
      }
    }
    const double ss_chance =
        item.level == 0 ? (item.site >= spec.plants ? 0.6 : 0.3) : (item.intermittent ? 0.5 : 0.25);
    if (params.Chance(ss_chance)) item.safety_stock = std::ceil(mean * params.Uniform(0.5, 2.0));
  }
  // Work-center capacity from expected load: machines so that the centre runs near its
  // target utilization, then run times scaled so that expected load / capacity = target.
  for (const ItemDef& item : w.items) {
    for (const RoutingStepDef& step : item.routing) {
      auto& wc = w.work_centers[static_cast<std::size_t>(step.work_center)];
      // One order a week is the typical rhythm, so one setup a week.
      wc.expected_load_hours += step.run_hours_per_unit * item.expected_weekly + step.setup_hours;
    }
  }
  for (auto& wc : w.work_centers) {
    const double hours =
        w.calendars[static_cast<std::size_t>(wc.calendar)].NominalHoursPerWeek() * wc.efficiency;
    if (wc.expected_load_hours <= 0.0 || hours <= 0.0) continue;
    wc.machines = std::max(
        1, static_cast<int>(std::ceil(wc.expected_load_hours / (wc.target_utilization * hours))));
    wc.machines = std::min(wc.machines, 40);
  }
  std::vector<double> scale(w.work_centers.size(), 1.0);
  for (std::size_t k = 0; k < w.work_centers.size(); ++k) {
    const auto& wc = w.work_centers[k];
    const double hours =
        w.calendars[static_cast<std::size_t>(wc.calendar)].NominalHoursPerWeek() * wc.efficiency;
    if (wc.expected_load_hours > 0.0)
      scale[k] = wc.target_utilization * wc.machines * hours / wc.expected_load_hours;
  }
  for (ItemDef& item : w.items) {
    for (RoutingStepDef& step : item.routing) {
      step.run_hours_per_unit = std::max(
          0.0001,
          RoundTo(step.run_hours_per_unit * scale[static_cast<std::size_t>(step.work_center)],
                  0.0001));
    }
  }
}

}  // namespace

double CalendarDef::NominalHoursPerWeek() const {
  double per_day = 0.0;
  for (const auto& shift : shifts) per_day += shift.second;
  return per_day * static_cast<double>(weekdays.size());
}

sys_days WeekStart(const World& world, int week) {
  return world.options.plan_start + days{7 * week};
}

double World::MeanDemand(const ItemDef& item, int week) const {
  if (item.intermittent) return item.own_weekly_mean;
  double factor = 1.0;
  if (item.family >= 0) {
    const FamilyDef& family = families[static_cast<std::size_t>(item.family)];
    factor *= std::max(0.2, 1.0 + family.trend_per_year * week / 52.0);
    const auto ymd = std::chrono::year_month_day{WeekStart(*this, week)};
    const sys_days new_year{ymd.year() / std::chrono::January / 1};
    const double year_fraction =
        static_cast<double>((WeekStart(*this, week) - new_year).count()) / 365.25;
    factor *=
        1.0 + family.amplitude * std::sin(2.0 * std::numbers::pi * (year_fraction - family.phase));
  }
  return item.own_weekly_mean * factor;
}

std::vector<double> World::History(int item_index, int weeks) const {
  const ItemDef& item = items[static_cast<std::size_t>(item_index)];
  Rng rng(options.seed, "history", static_cast<std::uint64_t>(item_index));
  std::vector<double> series;
  series.reserve(static_cast<std::size_t>(weeks));
  for (int k = 0; k < weeks; ++k) {
    const int week = k - weeks;
    double quantity = 0.0;
    if (item.intermittent) {
      if (rng.Chance(item.intermittent_probability)) {
        quantity = 1.0 + rng.Poisson(item.intermittent_size - 1.0);
      }
    } else {
      const double mean = MeanDemand(item, week);
      if (mean < 8.0) {
        quantity = rng.Poisson(mean);
      } else {
        const double cv = item.noise_cv;
        quantity = std::round(mean * std::exp(cv * rng.Normal() - 0.5 * cv * cv));
      }
    }
    series.push_back(quantity);
  }
  return series;
}

World BuildWorld(const GeneratorOptions& options) {
  World w;
  w.options = options;
  w.spec = SpecFor(options.scale);
  w.history_weeks =
      options.history_weeks < 0 ? w.spec.default_history_weeks : options.history_weeks;
  BuildNetwork(w);
  BuildPlantItems(w);
  BuildDcItems(w);
  BuildDemandAndParameters(w);
  return w;
}

}  // namespace sop::gen::detail
